"""Per-type Graph rules: names, default projections, read-only and required properties, page limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

# Soft-delete destinations.
SOFT_DIRECTORY = "directory"  # /directory/deletedItems
SOFT_CONDITIONAL_ACCESS = "conditionalAccess"  # beta /identity/conditionalAccess/deletedItems
HARD = "hard"


@dataclass
class TypeSpec:
    collection: str  # seed / dump name
    odata_type: str  # "microsoft.graph.user"
    entity_set: str  # path used in @odata.context and links
    noun: str  # used in audit activity names: "Add <noun>"
    audit_category: str
    audit_type: str  # targetResources[].type
    schema: set[str]
    read_only: frozenset[str] = frozenset()
    required: tuple[str, ...] = ()
    default_select: tuple[str, ...] | None = None
    max_top: int = 999
    default_top: int = 100
    key: str = "id"
    directory_object: bool = False  # lives in /directory/deletedItems, usable as a $ref target
    delta_relations: tuple[str, ...] = ()
    delta_default_relations: tuple[str, ...] = ()
    # (property, descending by default) for collections Graph sorts by time.
    time_order: tuple[str, bool] | None = None
    strict: bool = False  # unknown properties refused on writes
    logged_by: str = "Core Directory"
    synced_locked: frozenset[str] = frozenset()  # mastered on-premises when onPremisesSyncEnabled
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def type_annotation(self) -> str:
        return "#" + self.odata_type


def _names(text: str) -> list[str]:
    return text.split()


def _props(text: str) -> set[str]:
    return set(text.split())


USER_DEFAULT = _names(
    "id displayName givenName surname userPrincipalName mail jobTitle mobilePhone businessPhones "
    "officeLocation preferredLanguage"
)

USER_SCHEMA = _props(
    " ".join(USER_DEFAULT)
    + """ accountEnabled ageGroup assignedLicenses assignedPlans city companyName consentProvidedForMinor
      country createdDateTime creationType deletedDateTime department employeeHireDate employeeId
      employeeLeaveDateTime employeeOrgData employeeType externalUserState
      externalUserStateChangeDateTime faxNumber identities imAddresses isResourceAccount
      lastPasswordChangeDateTime legalAgeGroupClassification licenseAssignmentStates mailNickname
      onPremisesDistinguishedName onPremisesDomainName onPremisesExtensionAttributes
      onPremisesImmutableId onPremisesLastSyncDateTime onPremisesProvisioningErrors
      onPremisesSamAccountName onPremisesSecurityIdentifier onPremisesSyncEnabled
      onPremisesUserPrincipalName otherMails passwordPolicies passwordProfile postalCode
      preferredDataLocation provisionedPlans proxyAddresses securityIdentifier showInAddressList
      signInActivity signInSessionsValidFromDateTime state streetAddress usageLocation userType"""
)

USER_READ_ONLY = frozenset(
    _props(
        """id createdDateTime deletedDateTime securityIdentifier signInActivity assignedPlans
        provisionedPlans licenseAssignmentStates creationType lastPasswordChangeDateTime
        signInSessionsValidFromDateTime proxyAddresses assignedLicenses onPremisesDistinguishedName
        onPremisesDomainName onPremisesLastSyncDateTime onPremisesProvisioningErrors
        onPremisesSamAccountName onPremisesSecurityIdentifier onPremisesSyncEnabled
        onPremisesUserPrincipalName externalUserStateChangeDateTime"""
    )
)

USER_SYNCED = frozenset(
    _props(
        """displayName givenName surname userPrincipalName mail mailNickname accountEnabled jobTitle
        department companyName officeLocation businessPhones mobilePhone faxNumber streetAddress city
        state country postalCode employeeId employeeType employeeHireDate onPremisesImmutableId
        otherMails onPremisesExtensionAttributes"""
    )
)

GROUP_DEFAULT = _names(
    "id displayName description groupTypes securityEnabled mailEnabled mailNickname mail visibility "
    "isAssignableToRole membershipRule membershipRuleProcessingState proxyAddresses onPremisesSyncEnabled "
    "createdDateTime deletedDateTime renewedDateTime expirationDateTime classification securityIdentifier "
    "resourceProvisioningOptions resourceBehaviorOptions preferredDataLocation theme onPremisesDomainName "
    "onPremisesLastSyncDateTime onPremisesNetBiosName onPremisesSamAccountName onPremisesSecurityIdentifier "
    "onPremisesProvisioningErrors preferredLanguage creationOptions"
)

GROUP_SCHEMA = _props(" ".join(GROUP_DEFAULT) + " assignedLabels assignedLicenses serviceProvisioningErrors")

GROUP_READ_ONLY = frozenset(
    _props(
        """id createdDateTime deletedDateTime mail proxyAddresses renewedDateTime expirationDateTime
        securityIdentifier onPremisesDomainName onPremisesLastSyncDateTime onPremisesNetBiosName
        onPremisesSamAccountName onPremisesSecurityIdentifier onPremisesSyncEnabled
        onPremisesProvisioningErrors assignedLicenses serviceProvisioningErrors"""
    )
)

GROUP_SYNCED = frozenset(
    _props("displayName description mailNickname mailEnabled securityEnabled groupTypes")
)

APP_SCHEMA = _props(
    """id appId addIns api appRoles applicationTemplateId certification createdDateTime deletedDateTime
    description disabledByMicrosoftStatus displayName groupMembershipClaims identifierUris info
    isDeviceOnlyAuthSupported isFallbackPublicClient keyCredentials notes oauth2RequirePostResponse
    optionalClaims parentalControlSettings passwordCredentials publicClient publisherDomain
    requestSignatureVerification requiredResourceAccess samlMetadataUrl serviceManagementReference
    servicePrincipalLockConfiguration signInAudience spa tags tokenEncryptionKeyId uniqueName
    verifiedPublisher web nativeAuthenticationApisEnabled"""
)

APP_READ_ONLY = frozenset(
    _props(
        """id appId createdDateTime deletedDateTime publisherDomain applicationTemplateId certification
        disabledByMicrosoftStatus verifiedPublisher"""
    )
)

SP_SCHEMA = _props(
    """id accountEnabled addIns alternativeNames appDescription appDisplayName appId
    applicationTemplateId appOwnerOrganizationId appRoleAssignmentRequired appRoles createdDateTime
    deletedDateTime description disabledByMicrosoftStatus displayName homepage info keyCredentials
    loginUrl logoutUrl notes notificationEmailAddresses oauth2PermissionScopes passwordCredentials
    preferredSingleSignOnMode preferredTokenSigningKeyThumbprint replyUrls
    resourceSpecificApplicationPermissions samlSingleSignOnSettings servicePrincipalNames
    servicePrincipalType signInAudience tags tokenEncryptionKeyId verifiedPublisher publisherName"""
)

SP_READ_ONLY = frozenset(
    _props(
        """id appDisplayName appOwnerOrganizationId createdDateTime deletedDateTime applicationTemplateId
        disabledByMicrosoftStatus publisherName"""
    )
)

CA_POLICY_SCHEMA = _props(
    """id templateId displayName description createdDateTime modifiedDateTime state conditions
    grantControls sessionControls deletedDateTime partialEnablementStrategy"""
)

NAMED_LOCATION_SCHEMA = _props(
    """@odata.type id displayName createdDateTime modifiedDateTime isTrusted ipRanges countriesAndRegions
    includeUnknownCountriesAndRegions countryLookupMethod deletedDateTime"""
)

AU_SCHEMA = _props(
    """id displayName description visibility membershipType membershipRule membershipRuleProcessingState
    isMemberManagementRestricted deletedDateTime"""
)

AUDIT_SCHEMA = _props(
    """id category correlationId result resultReason activityDisplayName activityDateTime loggedByService
    operationType initiatedBy targetResources additionalDetails"""
)

SIGNIN_SCHEMA = _props(
    """id createdDateTime userDisplayName userPrincipalName userId appId appDisplayName ipAddress
    clientAppUsed correlationId conditionalAccessStatus isInteractive riskDetail riskLevelAggregated
    riskLevelDuringSignIn riskState riskEventTypes riskEventTypes_v2 resourceDisplayName resourceId
    status deviceDetail location appliedConditionalAccessPolicies"""
)


def _spec(**kw: Any) -> TypeSpec:
    return TypeSpec(**kw)


TYPES: dict[str, TypeSpec] = {
    s.collection: s
    for s in [
        _spec(
            collection="users",
            odata_type="microsoft.graph.user",
            entity_set="users",
            noun="user",
            audit_category="UserManagement",
            audit_type="User",
            schema=USER_SCHEMA,
            read_only=USER_READ_ONLY,
            required=("accountEnabled", "displayName", "mailNickname", "userPrincipalName"),
            default_select=tuple(USER_DEFAULT),
            directory_object=True,
            delta_relations=("manager",),
            strict=True,
            synced_locked=USER_SYNCED,
        ),
        _spec(
            collection="groups",
            odata_type="microsoft.graph.group",
            entity_set="groups",
            noun="group",
            audit_category="GroupManagement",
            audit_type="Group",
            schema=GROUP_SCHEMA,
            read_only=GROUP_READ_ONLY,
            required=("displayName", "mailEnabled", "mailNickname", "securityEnabled"),
            default_select=tuple(GROUP_DEFAULT),
            directory_object=True,
            delta_relations=("members", "owners"),
            delta_default_relations=("members",),
            strict=True,
            synced_locked=GROUP_SYNCED,
        ),
        _spec(
            collection="applications",
            odata_type="microsoft.graph.application",
            entity_set="applications",
            noun="application",
            audit_category="ApplicationManagement",
            audit_type="Application",
            schema=APP_SCHEMA,
            read_only=APP_READ_ONLY,
            required=("displayName",),
            directory_object=True,
            strict=True,
        ),
        _spec(
            collection="servicePrincipals",
            odata_type="microsoft.graph.servicePrincipal",
            entity_set="servicePrincipals",
            noun="service principal",
            audit_category="ApplicationManagement",
            audit_type="ServicePrincipal",
            schema=SP_SCHEMA,
            read_only=SP_READ_ONLY,
            required=("appId",),
            directory_object=True,
            strict=True,
        ),
        _spec(
            collection="administrativeUnits",
            odata_type="microsoft.graph.administrativeUnit",
            entity_set="directory/administrativeUnits",
            noun="administrative unit",
            audit_category="DirectoryManagement",
            audit_type="Other",
            schema=AU_SCHEMA,
            read_only=frozenset({"id", "deletedDateTime"}),
            required=("displayName",),
            directory_object=True,
            delta_relations=("members",),
        ),
        _spec(
            collection="oauth2PermissionGrants",
            odata_type="microsoft.graph.oAuth2PermissionGrant",
            entity_set="oauth2PermissionGrants",
            noun="delegated permission grant",
            audit_category="ApplicationManagement",
            audit_type="ServicePrincipal",
            schema=_props("id clientId consentType principalId resourceId scope"),
            read_only=frozenset({"id"}),
            required=("clientId", "consentType", "resourceId"),
            strict=True,
        ),
        _spec(
            collection="appRoleAssignments",
            odata_type="microsoft.graph.appRoleAssignment",
            entity_set="appRoleAssignments",
            noun="app role assignment",
            audit_category="ApplicationManagement",
            audit_type="ServicePrincipal",
            schema=_props(
                "id appRoleId createdDateTime deletedDateTime principalDisplayName principalId principalType "
                "resourceDisplayName resourceId"
            ),
            read_only=frozenset({"id", "createdDateTime", "deletedDateTime"}),
            required=("principalId", "resourceId", "appRoleId"),
        ),
        _spec(
            collection="domains",
            odata_type="microsoft.graph.domain",
            entity_set="domains",
            noun="domain",
            audit_category="DirectoryManagement",
            audit_type="Other",
            schema=_props(
                "id authenticationType availabilityStatus isAdminManaged isDefault isInitial isRoot "
                "isVerified manufacturer model passwordNotificationWindowInDays passwordValidityPeriodInDays "
                "state supportedServices"
            ),
            read_only=frozenset(
                {"isInitial", "isRoot", "isVerified", "isAdminManaged", "availabilityStatus"}
            ),
            required=("id",),
        ),
        _spec(
            collection="organization",
            odata_type="microsoft.graph.organization",
            entity_set="organization",
            noun="company settings",
            audit_category="DirectoryManagement",
            audit_type="Other",
            schema=_props(
                "id assignedPlans businessPhones city country countryLetterCode createdDateTime "
                "deletedDateTime displayName marketingNotificationEmails onPremisesLastSyncDateTime "
                "onPremisesSyncEnabled postalCode preferredLanguage privacyProfile provisionedPlans "
                "securityComplianceNotificationMails securityComplianceNotificationPhones state street "
                "technicalNotificationMails tenantType verifiedDomains"
            ),
            extras={
                "writable": frozenset(
                    {
                        "marketingNotificationEmails",
                        "privacyProfile",
                        "securityComplianceNotificationMails",
                        "securityComplianceNotificationPhones",
                        "technicalNotificationMails",
                    }
                )
            },
        ),
        _spec(
            collection="roleDefinitions",
            odata_type="microsoft.graph.unifiedRoleDefinition",
            entity_set="roleManagement/directory/roleDefinitions",
            noun="role definition",
            audit_category="RoleManagement",
            audit_type="Role",
            schema=_props(
                "id description displayName isBuiltIn isEnabled resourceScopes rolePermissions templateId "
                "version inheritsPermissionsFrom"
            ),
            read_only=frozenset({"id", "isBuiltIn"}),
            required=("displayName", "rolePermissions", "isEnabled"),
        ),
        _spec(
            collection="roleAssignments",
            odata_type="microsoft.graph.unifiedRoleAssignment",
            entity_set="roleManagement/directory/roleAssignments",
            noun="role assignment",
            audit_category="RoleManagement",
            audit_type="Role",
            schema=_props("id principalId roleDefinitionId directoryScopeId appScopeId condition"),
            read_only=frozenset({"id"}),
            required=("principalId", "roleDefinitionId", "directoryScopeId"),
        ),
        _spec(
            collection="roleEligibilitySchedules",
            odata_type="microsoft.graph.unifiedRoleEligibilitySchedule",
            entity_set="roleManagement/directory/roleEligibilitySchedules",
            noun="eligible role assignment",
            audit_category="RoleManagement",
            audit_type="Role",
            schema=_props(
                "id principalId roleDefinitionId directoryScopeId appScopeId memberType status scheduleInfo "
                "createdUsing createdDateTime modifiedDateTime"
            ),
            read_only=frozenset({"id"}),
        ),
        _spec(
            collection="conditionalAccessPolicies",
            odata_type="microsoft.graph.conditionalAccessPolicy",
            entity_set="identity/conditionalAccess/policies",
            noun="conditional access policy",
            audit_category="Policy",
            audit_type="Policy",
            schema=CA_POLICY_SCHEMA,
            read_only=frozenset({"id", "createdDateTime", "modifiedDateTime", "deletedDateTime"}),
            required=("displayName", "state", "conditions"),
            logged_by="Conditional Access",
            strict=True,
        ),
        _spec(
            collection="namedLocations",
            odata_type="microsoft.graph.namedLocation",
            entity_set="identity/conditionalAccess/namedLocations",
            noun="named location",
            audit_category="Policy",
            audit_type="Policy",
            schema=NAMED_LOCATION_SCHEMA,
            read_only=frozenset({"id", "createdDateTime", "modifiedDateTime", "deletedDateTime"}),
            required=("@odata.type", "displayName"),
            logged_by="Conditional Access",
            strict=True,
        ),
        _spec(
            collection="authenticationStrengthPolicies",
            odata_type="microsoft.graph.authenticationStrengthPolicy",
            entity_set="policies/authenticationStrengthPolicies",
            noun="authentication strength policy",
            audit_category="Policy",
            audit_type="Policy",
            schema=_props(
                "id displayName description policyType requirementsSatisfied allowedCombinations "
                "createdDateTime modifiedDateTime combinationConfigurations"
            ),
            read_only=frozenset(
                {"id", "createdDateTime", "modifiedDateTime", "policyType", "requirementsSatisfied"}
            ),
            required=("displayName", "allowedCombinations"),
            logged_by="Conditional Access",
        ),
        _spec(
            collection="crossTenantAccessPartners",
            odata_type="microsoft.graph.crossTenantAccessPolicyConfigurationPartner",
            entity_set="policies/crossTenantAccessPolicy/partners",
            noun="partner to cross-tenant access setting",
            audit_category="Policy",
            audit_type="Policy",
            schema=_props(
                "tenantId isServiceProvider isInMultiTenantOrganization inboundTrust b2bCollaborationInbound "
                "b2bCollaborationOutbound b2bDirectConnectInbound b2bDirectConnectOutbound "
                "automaticUserConsentSettings tenantRestrictions identitySynchronization"
            ),
            read_only=frozenset({"isInMultiTenantOrganization"}),
            required=("tenantId",),
            key="tenantId",
        ),
        _spec(
            collection="scopedRoleMemberships",
            odata_type="microsoft.graph.scopedRoleMembership",
            entity_set="scopedRoleMembers",
            noun="scoped member to role",
            audit_category="RoleManagement",
            audit_type="Role",
            schema=_props("id administrativeUnitId roleId roleMemberInfo"),
            read_only=frozenset({"id"}),
            required=("roleId", "roleMemberInfo"),
        ),
        _spec(
            collection="directoryAudits",
            odata_type="microsoft.graph.directoryAudit",
            entity_set="auditLogs/directoryAudits",
            noun="audit record",
            audit_category="Other",
            audit_type="Other",
            schema=AUDIT_SCHEMA,
            time_order=("activityDateTime", True),
        ),
        _spec(
            collection="signIns",
            odata_type="microsoft.graph.signIn",
            entity_set="auditLogs/signIns",
            noun="sign-in",
            audit_category="Other",
            audit_type="Other",
            schema=SIGNIN_SCHEMA,
            time_order=("createdDateTime", True),
            max_top=1000,
            default_top=1000,
        ),
    ]
}

DIRECTORY_TYPES = tuple(c for c, s in TYPES.items() if s.directory_object)
LOG_COLLECTIONS = ("directoryAudits", "signIns")

# Cast segment -> collection, as in /directory/deletedItems/microsoft.graph.user.
CAST_TO_COLLECTION = {"microsoft.graph." + s.odata_type.rsplit(".", 1)[1]: c for c, s in TYPES.items()}

SINGLETONS = (
    "authenticationMethodsPolicy",
    "authorizationPolicy",
    "crossTenantAccessPolicy",
    "crossTenantAccessDefault",
)

SINGLETON_READ_ONLY: dict[str, frozenset[str]] = {
    "authenticationMethodsPolicy": frozenset(
        {"id", "lastModifiedDateTime", "policyVersion", "authenticationMethodConfigurations"}
    ),
    "authorizationPolicy": frozenset({"id"}),
    "crossTenantAccessPolicy": frozenset({"id", "default", "partners"}),
    "crossTenantAccessDefault": frozenset({"isServiceDefault"}),
}
