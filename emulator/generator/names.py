"""Fixed vocabularies the generator draws from: people, places, departments, companies and apps."""

from __future__ import annotations

from typing import NamedTuple


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


COMPANIES = (
    "Contoso",
    "Fabrikam",
    "Northwind Traders",
    "Adventure Works",
    "Tailwind Traders",
    "Woodgrove Bank",
    "Litware",
    "Alpine Ski House",
    "Wingtip Toys",
    "Proseware",
)

# Home domains of invited guests; the first few are also the cross-tenant partners.
GUEST_DOMAINS = (
    "fabrikam.com",
    "woodgrovebank.com",
    "adatum.com",
    "northwindtraders.com",
    "litwareinc.com",
    "tailspintoys.com",
    "gmail.com",
    "outlook.com",
)

GIVEN_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra "
    "Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin "
    "Amanda Brian Melissa George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey "
    "Cynthia Ryan Amy Jacob Kathleen Gary Angela Nicholas Shirley Eric Brenda Jonathan Emma Stephen Anna "
    "Larry Pamela Justin Nicole Scott Samantha Brandon Katherine Benjamin Christine Samuel Debra Gregory "
    "Rachel Alexander Carolyn Patrick Janet Frank Maria Raymond Olivia Jack Heather Dennis Helen Jerry "
    "Catherine Tyler Diane Aaron Julie Priya Arjun Mei Wei Yuki Hiroshi Sofia Lukas Chloe Mateo Amara Kwame "
    "Fatima Omar Ingrid Lars Aisha Ravi Elena Diego Noor Sven Leila Tariq Zara Hana Kenji Camille Louis"
)

SURNAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker "
    "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper "
    "Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James "
    "Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez "
    "Schmidt Muller Fischer Weber Dubois Laurent Rossi Bianchi Tanaka Suzuki Sato Chen Wang Li Zhang Singh "
    "Kumar Sharma Okafor Mensah Haddad Nakamura Larsen Johansson Novak Kowalski"
)


class Department(NamedTuple):
    name: str
    weight: int  # relative headcount
    code: str  # cost-centre prefix
    titles: tuple[str, ...]  # individual-contributor job titles


DEPARTMENTS = (
    Department("Executive", 1, "EX", ("Chief of Staff", "Executive Assistant", "Strategy Advisor")),
    Department(
        "Engineering",
        22,
        "EN",
        ("Software Engineer", "Senior Software Engineer", "Principal Engineer", "SRE", "QA Engineer"),
    ),
    Department("Sales", 16, "SA", ("Account Executive", "Sales Representative", "Sales Engineer", "SDR")),
    Department("Marketing", 7, "MK", ("Marketing Specialist", "Content Strategist", "Brand Manager")),
    Department("Finance", 6, "FI", ("Financial Analyst", "Accountant", "Controller", "Payroll Specialist")),
    Department("Human Resources", 4, "HR", ("HR Business Partner", "Recruiter", "HR Generalist")),
    Department("IT", 5, "IT", ("Systems Administrator", "Service Desk Analyst", "Network Engineer")),
    Department("Operations", 10, "OP", ("Operations Analyst", "Logistics Coordinator", "Buyer")),
    Department("Customer Support", 12, "CS", ("Support Engineer", "Customer Success Manager", "Agent")),
    Department("Legal", 2, "LG", ("Counsel", "Paralegal", "Compliance Officer")),
    Department("Product", 6, "PR", ("Product Manager", "UX Designer", "Product Analyst")),
    Department("Research", 4, "RD", ("Research Scientist", "Data Scientist", "Research Engineer")),
)


class Office(NamedTuple):
    name: str  # officeLocation
    weight: int
    city: str
    state: str | None
    country: str
    country_code: str  # usageLocation, ISO 3166 alpha-2
    language: str  # preferredLanguage
    phone_prefix: str
    street: str
    postal_code: str
    latitude: float
    longitude: float


OFFICES = (
    Office(
        "Redmond HQ",
        30,
        "Redmond",
        "WA",
        "United States",
        "US",
        "en-US",
        "+1 425 555",
        "1 Main Way",
        "98052",
        47.674,
        -122.121,
    ),
    Office(
        "New York",
        14,
        "New York",
        "NY",
        "United States",
        "US",
        "en-US",
        "+1 212 555",
        "50 Hudson Yards",
        "10001",
        40.754,
        -74.002,
    ),
    Office(
        "Austin",
        8,
        "Austin",
        "TX",
        "United States",
        "US",
        "en-US",
        "+1 512 555",
        "500 Congress Ave",
        "78701",
        30.267,
        -97.743,
    ),
    Office(
        "Toronto",
        6,
        "Toronto",
        "ON",
        "Canada",
        "CA",
        "en-CA",
        "+1 416 555",
        "100 King St W",
        "M5X 1A9",
        43.649,
        -79.382,
    ),
    Office(
        "London",
        12,
        "London",
        None,
        "United Kingdom",
        "GB",
        "en-GB",
        "+44 20 7946",
        "2 Kingdom St",
        "W2 6BD",
        51.519,
        -0.181,
    ),
    Office(
        "Dublin",
        6,
        "Dublin",
        None,
        "Ireland",
        "IE",
        "en-IE",
        "+353 1 555",
        "1 Grand Canal Sq",
        "D02 P820",
        53.339,
        -6.239,
    ),
    Office(
        "Berlin",
        6,
        "Berlin",
        None,
        "Germany",
        "DE",
        "de-DE",
        "+49 30 5555",
        "Unter den Linden 1",
        "10117",
        52.517,
        13.389,
    ),
    Office(
        "Paris",
        5,
        "Paris",
        None,
        "France",
        "FR",
        "fr-FR",
        "+33 1 5555",
        "1 Rue de Rivoli",
        "75001",
        48.860,
        2.341,
    ),
    Office(
        "Bangalore",
        8,
        "Bengaluru",
        "KA",
        "India",
        "IN",
        "en-IN",
        "+91 80 5555",
        "1 MG Road",
        "560001",
        12.975,
        77.607,
    ),
    Office(
        "Sydney",
        5,
        "Sydney",
        "NSW",
        "Australia",
        "AU",
        "en-AU",
        "+61 2 5555",
        "1 George St",
        "2000",
        -33.861,
        151.210,
    ),
)

APP_NAMES = (
    "HR Portal",
    "Expense Tracker",
    "Payroll Sync",
    "Contract Management",
    "Inventory API",
    "Customer Portal",
    "Marketing Analytics",
    "Sales Dashboard",
    "Ticketing Integration",
    "Build Pipeline",
    "Document Signing",
    "Learning Hub",
    "Travel Booking",
    "Data Warehouse Loader",
    "Backup Connector",
    "Partner Extranet",
    "Field Service App",
    "Intranet",
    "Asset Register",
    "Recruiting Portal",
)
APP_STAGES = ("", " (Dev)", " (Test)", " (Staging)")

GROUP_TOPICS = (
    "VPN Users",
    "File Share Access",
    "Laptop Pilot",
    "Printer Access",
    "License - Visio",
    "License - Project",
    "Project Atlas",
    "Project Phoenix",
    "Project Orion",
    "Wiki Editors",
    "Lab Access",
    "On-Call",
    "Contractors",
    "Interns",
    "Leadership",
    "Book Club",
    "Social Committee",
    "Hiring Panel",
    "Budget Planning",
    "Quarterly Review",
)
