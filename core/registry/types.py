"""Every Entra ID type Rewind protects, described once (graph-api.md sections 1 and 10)."""

from __future__ import annotations

from core.registry.model import ObjectType, Reference, Refresh, Relationship, RestoreMode

DIRECTORY_READ = "Directory.Read.All"
POLICY_READ = "Policy.Read.All"
PRINCIPALS = ("user", "group", "servicePrincipal")

USER = ObjectType(
    name="user",
    natural_key=("userPrincipalName",),
    create_omit=frozenset(
        {"proxyAddresses", "assignedLicenses", "onPremisesLastSyncDateTime", "onPremisesSamAccountName"}
    ),
    title="users",
    list_path="/users",
    delta_path="/users/delta",
    read_permission=DIRECTORY_READ,
    write_permission="User.ReadWrite.All",
    restore=RestoreMode.RECYCLE_BIN,
    deleted_items_cast="microsoft.graph.user",
    principal_field="userPrincipalName",
    synced_flag="onPremisesSyncEnabled",
    select=(
        "id",
        "displayName",
        "givenName",
        "surname",
        "userPrincipalName",
        "mail",
        "mailNickname",
        "jobTitle",
        "department",
        "companyName",
        "officeLocation",
        "mobilePhone",
        "businessPhones",
        "preferredLanguage",
        "usageLocation",
        "accountEnabled",
        "userType",
        "createdDateTime",
        "employeeId",
        "proxyAddresses",
        "assignedLicenses",
        "identities",
        "externalUserState",
        "onPremisesSyncEnabled",
        "onPremisesImmutableId",
        "onPremisesSamAccountName",
        "onPremisesLastSyncDateTime",
        "onPremisesExtensionAttributes",
    ),
    relationships=(Relationship("manager", "/users/{id}/manager", ("user",), Refresh.DELTA, single=True),),
    volatile=frozenset({"signInActivity", "onPremisesLastSyncDateTime", "refreshTokensValidFromDateTime"}),
    unrestorable=frozenset({"passwordProfile", "signInActivity", "createdDateTime", "externalUserState"}),
    read_only=frozenset(
        {
            "id",
            "createdDateTime",
            "deletedDateTime",
            "onPremisesSyncEnabled",
            "onPremisesLastSyncDateTime",
            "onPremisesSamAccountName",
            "externalUserState",
        }
    ),
)

GROUP = ObjectType(
    name="group",
    natural_key=("mailNickname",),
    create_omit=frozenset({"membershipRuleProcessingState", "expirationDateTime", "renewedDateTime"}),
    title="groups",
    list_path="/groups",
    delta_path="/groups/delta",
    read_permission=DIRECTORY_READ,
    write_permission="Group.ReadWrite.All",
    restore=RestoreMode.RECYCLE_BIN,  # M365 and cloud security groups; others fall back to recreate
    deleted_items_cast="microsoft.graph.group",
    principal_field="mailNickname",
    synced_flag="onPremisesSyncEnabled",
    select=(
        "id",
        "displayName",
        "description",
        "groupTypes",
        "securityEnabled",
        "mailEnabled",
        "mailNickname",
        "mail",
        "visibility",
        "isAssignableToRole",
        "membershipRule",
        "membershipRuleProcessingState",
        "proxyAddresses",
        "onPremisesSyncEnabled",
        "createdDateTime",
        "classification",
        "securityIdentifier",
        "resourceProvisioningOptions",
        "preferredDataLocation",
    ),
    relationships=(
        Relationship("members", "/groups/{id}/members", ("user", "group", "servicePrincipal"), Refresh.DELTA),
        Relationship("owners", "/groups/{id}/owners", ("user", "servicePrincipal"), Refresh.DELTA),
    ),
    volatile=frozenset({"renewedDateTime", "expirationDateTime"}),
    unrestorable=frozenset({"mail", "securityIdentifier", "createdDateTime", "proxyAddresses"}),
    read_only=frozenset(
        {
            "id",
            "createdDateTime",
            "deletedDateTime",
            "mail",
            "securityIdentifier",
            "onPremisesSyncEnabled",
            "renewedDateTime",
            "proxyAddresses",
        }
    ),
)

APPLICATION = ObjectType(
    name="application",
    natural_key=("displayName",),
    title="app registrations",
    list_path="/applications",
    delta_path="/applications/delta",
    read_permission=DIRECTORY_READ,
    write_permission="Application.ReadWrite.All",
    restore=RestoreMode.RECYCLE_BIN,
    deleted_items_cast="microsoft.graph.application",
    principal_field="appId",
    relationships=(
        Relationship("owners", "/applications/{id}/owners", ("user", "servicePrincipal"), Refresh.AUDIT),
    ),
    # A recreated app gets a new appId; secrets are never readable and must be issued again.
    unrestorable=frozenset(
        {"appId", "publisherDomain", "passwordCredentials", "keyCredentials", "createdDateTime"}
    ),
    read_only=frozenset({"id", "appId", "publisherDomain", "createdDateTime", "deletedDateTime"}),
)

SERVICE_PRINCIPAL = ObjectType(
    name="servicePrincipal",
    natural_key=("appId",),
    create_omit=frozenset({"appDisplayName", "servicePrincipalNames", "publisherName"}),
    title="enterprise apps (service principals)",
    list_path="/servicePrincipals",
    delta_path="/servicePrincipals/delta",
    read_permission=DIRECTORY_READ,
    write_permission="Application.ReadWrite.All",
    restore=RestoreMode.RECYCLE_BIN,
    deleted_items_cast="microsoft.graph.servicePrincipal",
    principal_field="appId",
    relationships=(
        Relationship("owners", "/servicePrincipals/{id}/owners", ("user", "servicePrincipal"), Refresh.AUDIT),
    ),
    unrestorable=frozenset({"passwordCredentials", "keyCredentials", "appOwnerOrganizationId"}),
    read_only=frozenset({"id", "appId", "appOwnerOrganizationId", "deletedDateTime", "appDisplayName"}),
)

APP_ROLE_ASSIGNMENT = ObjectType(
    name="appRoleAssignment",
    natural_key=("principalId", "resourceId", "appRoleId"),
    create_path="/servicePrincipals/{resourceId}/appRoleAssignedTo",
    create_omit=frozenset({"principalDisplayName", "principalType", "resourceDisplayName"}),
    title="app role assignments",
    list_path="/servicePrincipals/{parent}/appRoleAssignedTo",
    parent="servicePrincipal",
    read_permission=DIRECTORY_READ,
    write_permission="AppRoleAssignment.ReadWrite.All",
    restore=RestoreMode.RECREATE,
    display_field="principalDisplayName",
    principal_field="principalId",  # a backup can drop a deleted principal's assignments from pages alone
    references=(
        Reference("principalId", PRINCIPALS),
        Reference("resourceId", ("servicePrincipal",)),
    ),
    extra={"refresh": Refresh.AUDIT},
)

OAUTH2_GRANT = ObjectType(
    name="oauth2PermissionGrant",
    natural_key=("clientId", "consentType", "principalId", "resourceId"),
    title="delegated permission grants",
    list_path="/oauth2PermissionGrants",
    delta_path="/oauth2PermissionGrants/delta",
    read_permission=DIRECTORY_READ,
    write_permission="DelegatedPermissionGrant.ReadWrite.All",
    restore=RestoreMode.RECREATE,
    display_field="scope",
    references=(
        Reference("clientId", ("servicePrincipal",)),
        Reference("resourceId", ("servicePrincipal",)),
        Reference("principalId", ("user",)),
    ),
)

ROLE_DEFINITION = ObjectType(
    name="unifiedRoleDefinition",
    natural_key=("displayName",),
    create_omit=frozenset({"isBuiltIn", "templateId", "version"}),
    title="role definitions",
    list_path="/roleManagement/directory/roleDefinitions",
    page_size=None,
    read_permission="RoleManagement.Read.Directory",
    write_permission="RoleManagement.ReadWrite.Directory",
    restore=RestoreMode.RECREATE,  # custom roles only; built-in ones cannot change
)

ROLE_ASSIGNMENT = ObjectType(
    name="unifiedRoleAssignment",
    natural_key=("principalId", "roleDefinitionId", "directoryScopeId"),
    title="directory role assignments",
    list_path="/roleManagement/directory/roleAssignments",
    page_size=None,
    read_permission="RoleManagement.Read.Directory",
    write_permission="RoleManagement.ReadWrite.Directory",
    restore=RestoreMode.RECREATE,
    display_field="roleDefinitionId",
    references=(
        Reference("principalId", PRINCIPALS),
        Reference("roleDefinitionId", ("unifiedRoleDefinition",)),
    ),
)

ROLE_ELIGIBILITY = ObjectType(
    name="unifiedRoleEligibilitySchedule",
    natural_key=("principalId", "roleDefinitionId", "directoryScopeId"),
    create_path="/roleManagement/directory/roleEligibilityScheduleRequests",
    create_omit=frozenset({"memberType", "status", "createdUsing", "modifiedDateTime", "appScopeId"}),
    title="PIM eligible assignments",
    list_path="/roleManagement/directory/roleEligibilitySchedules",
    page_size=None,
    read_permission="RoleEligibilitySchedule.Read.Directory",
    write_permission="RoleManagement.ReadWrite.Directory",
    restore=RestoreMode.RECREATE,  # via roleEligibilityScheduleRequests adminAssign
    display_field="roleDefinitionId",
    references=(
        Reference("principalId", PRINCIPALS),
        Reference("roleDefinitionId", ("unifiedRoleDefinition",)),
    ),
)

NAMED_LOCATION = ObjectType(
    name="namedLocation",
    natural_key=("displayName",),
    title="named locations",
    list_path="/identity/conditionalAccess/namedLocations",
    page_size=None,
    read_permission=POLICY_READ,
    write_permission="Policy.ReadWrite.ConditionalAccess",
    restore=RestoreMode.CA_DELETED_ITEMS,
    throttle_class="conditional_access",
    read_only=frozenset({"id", "createdDateTime", "modifiedDateTime", "deletedDateTime"}),
)

AUTH_STRENGTH = ObjectType(
    name="authenticationStrengthPolicy",
    natural_key=("displayName",),
    title="authentication strengths",
    list_path="/policies/authenticationStrengthPolicies",
    page_size=None,
    read_permission=POLICY_READ,
    write_permission="Policy.ReadWrite.ConditionalAccess",
    restore=RestoreMode.RECREATE,  # custom ones; built-in strengths cannot be changed
    read_only=frozenset({"id", "createdDateTime", "modifiedDateTime", "policyType", "requirementsSatisfied"}),
)

CA_POLICY = ObjectType(
    name="conditionalAccessPolicy",
    natural_key=("displayName",),
    title="Conditional Access policies",
    list_path="/identity/conditionalAccess/policies",
    page_size=None,
    read_permission=POLICY_READ,
    write_permission="Policy.ReadWrite.ConditionalAccess",
    restore=RestoreMode.CA_DELETED_ITEMS,
    throttle_class="conditional_access",
    references=(
        Reference("conditions.users.includeUsers", ("user",)),
        Reference("conditions.users.excludeUsers", ("user",)),
        Reference("conditions.users.includeGroups", ("group",)),
        Reference("conditions.users.excludeGroups", ("group",)),
        Reference("conditions.users.includeRoles", ("unifiedRoleDefinition",)),
        Reference("conditions.users.excludeRoles", ("unifiedRoleDefinition",)),
        Reference("conditions.locations.includeLocations", ("namedLocation",)),
        Reference("conditions.locations.excludeLocations", ("namedLocation",)),
        Reference("grantControls.authenticationStrength.id", ("authenticationStrengthPolicy",)),
    ),
    read_only=frozenset({"id", "createdDateTime", "modifiedDateTime", "deletedDateTime", "templateId"}),
)

AUTH_METHODS_POLICY = ObjectType(
    name="authenticationMethodsPolicy",
    title="authentication methods policy",
    list_path="/policies/authenticationMethodsPolicy",
    page_size=None,
    singleton=True,
    read_permission=POLICY_READ,
    write_permission="Policy.ReadWrite.AuthenticationMethod",
    restore=RestoreMode.PATCH,
    read_only=frozenset({"id", "lastModifiedDateTime", "policyVersion"}),
)

AUTHORIZATION_POLICY = ObjectType(
    name="authorizationPolicy",
    title="authorization policy",
    list_path="/policies/authorizationPolicy",
    page_size=None,
    singleton=True,
    read_permission=POLICY_READ,
    write_permission="Policy.ReadWrite.Authorization",
    restore=RestoreMode.PATCH,
)

CROSS_TENANT_POLICY = ObjectType(
    name="crossTenantAccessPolicy",
    title="cross-tenant access policy",
    list_path="/policies/crossTenantAccessPolicy",
    page_size=None,
    singleton=True,
    read_permission=POLICY_READ,
    write_permission="Policy.ReadWrite.CrossTenantAccess",
    restore=RestoreMode.PATCH,
)

CROSS_TENANT_DEFAULT = ObjectType(
    name="crossTenantAccessPolicyConfigurationDefault",
    title="cross-tenant access defaults",
    list_path="/policies/crossTenantAccessPolicy/default",
    page_size=None,
    singleton=True,
    read_permission=POLICY_READ,
    write_permission="Policy.ReadWrite.CrossTenantAccess",
    restore=RestoreMode.PATCH,
    display_field="id",
)

CROSS_TENANT_PARTNER = ObjectType(
    name="crossTenantAccessPolicyConfigurationPartner",
    natural_key=("tenantId",),
    create_omit=frozenset({"isInMultiTenantOrganization"}),
    title="cross-tenant access partners",
    list_path="/policies/crossTenantAccessPolicy/partners",
    page_size=None,
    id_field="tenantId",
    display_field="tenantId",
    read_permission=POLICY_READ,
    write_permission="Policy.ReadWrite.CrossTenantAccess",
    restore=RestoreMode.RECREATE,  # keyed by the partner's tenant id, so it comes back under the same key
)

ADMINISTRATIVE_UNIT = ObjectType(
    name="administrativeUnit",
    natural_key=("displayName",),
    title="administrative units",
    list_path="/directory/administrativeUnits",
    delta_path="/directory/administrativeUnits/delta",
    read_permission=DIRECTORY_READ,
    write_permission="AdministrativeUnit.ReadWrite.All",
    restore=RestoreMode.RECYCLE_BIN,
    deleted_items_cast="microsoft.graph.administrativeUnit",
    relationships=(
        Relationship(
            "members", "/directory/administrativeUnits/{id}/members", ("user", "group"), Refresh.AUDIT
        ),
        Relationship(
            "scopedRoleMembers",
            "/directory/administrativeUnits/{id}/scopedRoleMembers",
            ("user",),
            Refresh.AUDIT,
        ),
    ),
)

DOMAIN = ObjectType(
    name="domain",
    title="domains",
    list_path="/domains",
    page_size=None,
    display_field="id",
    read_permission=DIRECTORY_READ,
    write_permission="Domain.ReadWrite.All",
    restore=RestoreMode.READ_ONLY,  # a domain comes back only through DNS re-verification by a person
)

ORGANIZATION = ObjectType(
    name="organization",
    title="organization",
    list_path="/organization",
    page_size=None,
    read_permission=DIRECTORY_READ,
    write_permission="Organization.ReadWrite.All",
    restore=RestoreMode.PATCH,
)

# The order here is the restore dependency order for the common cases; restore sorts by references anyway.
OBJECT_TYPES: tuple[ObjectType, ...] = (
    ORGANIZATION,
    DOMAIN,
    USER,
    GROUP,
    ADMINISTRATIVE_UNIT,
    APPLICATION,
    SERVICE_PRINCIPAL,
    APP_ROLE_ASSIGNMENT,
    OAUTH2_GRANT,
    ROLE_DEFINITION,
    ROLE_ASSIGNMENT,
    ROLE_ELIGIBILITY,
    NAMED_LOCATION,
    AUTH_STRENGTH,
    CA_POLICY,
    AUTH_METHODS_POLICY,
    AUTHORIZATION_POLICY,
    CROSS_TENANT_POLICY,
    CROSS_TENANT_DEFAULT,
    CROSS_TENANT_PARTNER,
)
