"""Tenant-wide settings: authentication methods, authorization and cross-tenant access."""

from __future__ import annotations

import random

from emulator.generator.common import Obj, Tenant, guid
from emulator.generator.groups import Groups

GUEST_USER_ROLE_ID = "10dae51f-b6af-4016-8d66-8c2a99b929b3"  # "Guest user": limited access
_M = "#microsoft.graph."


def _targets(group_id: str = "all_users", **extra: object) -> list[Obj]:
    return [{"targetType": "group", "id": group_id, "isRegistrationRequired": False, **extra}]


def authentication_methods_policy(t: Tenant, groups: Groups) -> Obj:
    rng = t.rng("auth-methods")
    admins = groups.of_kind("role_assignable")[0]["id"]
    configs: list[Obj] = [
        {
            "@odata.type": f"{_M}fido2AuthenticationMethodConfiguration",
            "id": "Fido2",
            "state": "enabled",
            "excludeTargets": [],
            "isAttestationEnforced": True,
            "isSelfServiceRegistrationAllowed": True,
            "keyRestrictions": {"isEnforced": False, "enforcementType": "block", "aaGuids": []},
            "includeTargets": _targets() + _targets(admins),
        },
        {
            "@odata.type": f"{_M}microsoftAuthenticatorAuthenticationMethodConfiguration",
            "id": "MicrosoftAuthenticator",
            "state": "enabled",
            "excludeTargets": [],
            "isSoftwareOathEnabled": False,
            "featureSettings": {
                feature: {
                    "state": "enabled",
                    "includeTarget": {"targetType": "group", "id": "all_users"},
                    "excludeTarget": {"targetType": "group", "id": "00000000-0000-0000-0000-000000000000"},
                }
                for feature in (
                    "displayAppInformationRequiredState",
                    "displayLocationInformationRequiredState",
                )
            },
            "includeTargets": _targets(authenticationMode="any"),
        },
        {
            "@odata.type": f"{_M}smsAuthenticationMethodConfiguration",
            "id": "Sms",
            "state": "disabled",
            "excludeTargets": [],
            "includeTargets": _targets(isUsableForSignIn=False),
        },
        {
            "@odata.type": f"{_M}temporaryAccessPassAuthenticationMethodConfiguration",
            "id": "TemporaryAccessPass",
            "state": "enabled",
            "excludeTargets": [],
            "defaultLifetimeInMinutes": 60,
            "defaultLength": 8,
            "minimumLifetimeInMinutes": 60,
            "maximumLifetimeInMinutes": 480,
            "isUsableOnce": False,
            "includeTargets": _targets(),
        },
        {
            "@odata.type": f"{_M}emailAuthenticationMethodConfiguration",
            "id": "Email",
            "state": "enabled",
            "excludeTargets": [],
            "allowExternalIdToUseEmailOtp": "default",
            "includeTargets": [],
        },
        {
            "@odata.type": f"{_M}softwareOathAuthenticationMethodConfiguration",
            "id": "SoftwareOath",
            "state": "enabled",
            "excludeTargets": [],
            "includeTargets": _targets(),
        },
        {
            "@odata.type": f"{_M}voiceAuthenticationMethodConfiguration",
            "id": "Voice",
            "state": "disabled",
            "excludeTargets": [],
            "isOfficePhoneAllowed": False,
            "includeTargets": [],
        },
        {
            "@odata.type": f"{_M}x509CertificateAuthenticationMethodConfiguration",
            "id": "X509Certificate",
            "state": "disabled",
            "excludeTargets": [],
            "certificateUserBindings": [
                {
                    "x509CertificateField": "PrincipalName",
                    "userProperty": "onPremisesUserPrincipalName",
                    "priority": 1,
                }
            ],
            "authenticationModeConfiguration": {
                "x509CertificateAuthenticationDefaultMode": "x509CertificateSingleFactor",
                "rules": [],
            },
            "includeTargets": _targets(),
        },
    ]
    return {
        "id": "authenticationMethodsPolicy",
        "displayName": "Authentication Methods Policy",
        "description": "The tenant-wide policy that controls which authentication methods are allowed in the "
        "tenant, authentication method registration requirements, and self-service password reset settings",
        "lastModifiedDateTime": t.ago(rng, 1, 120),
        "policyVersion": "1.5",
        "policyMigrationState": "migrationComplete",
        "reconfirmationInDays": 0,
        "registrationEnforcement": {
            "authenticationMethodsRegistrationCampaign": {
                "snoozeDurationInDays": 1,
                "state": "enabled",
                "excludeTargets": [],
                "includeTargets": [
                    {
                        "id": "all_users",
                        "targetType": "group",
                        "targetedAuthenticationMethod": "microsoftAuthenticator",
                    }
                ],
            }
        },
        "authenticationMethodConfigurations": configs,
    }


def authorization_policy() -> Obj:
    return {
        "id": "authorizationPolicy",
        "displayName": "Authorization Policy",
        "description": "Used to manage authorization related settings across the company.",
        "allowInvitesFrom": "adminsAndGuestInviters",
        "allowedToSignUpEmailBasedSubscriptions": True,
        "allowedToUseSSPR": True,
        "allowEmailVerifiedUsersToJoinOrganization": False,
        "allowUserConsentForRiskyApps": None,
        "blockMsolPowerShell": True,
        "defaultUserRolePermissions": {
            "allowedToCreateApps": False,
            "allowedToCreateSecurityGroups": False,
            "allowedToCreateTenants": False,
            "allowedToReadBitlockerKeysForOwnedDevice": True,
            "allowedToReadOtherUsers": True,
            "permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForSelf.microsoft-user-default-low"],
        },
        "guestUserRoleId": GUEST_USER_ROLE_ID,
    }


def _access(users: str, apps: str) -> Obj:
    return {
        "usersAndGroups": {"accessType": users, "targets": [{"target": "AllUsers", "targetType": "user"}]},
        "applications": {
            "accessType": apps,
            "targets": [{"target": "AllApplications", "targetType": "application"}],
        },
    }


def cross_tenant_access_policy() -> Obj:
    return {
        "id": "crossTenantAccessPolicy",
        "displayName": "CrossTenantAccessPolicy",
        "allowedCloudEndpoints": [],
    }


def cross_tenant_access_default() -> Obj:
    return {
        "isServiceDefault": False,
        "b2bCollaborationInbound": _access("allowed", "allowed"),
        "b2bCollaborationOutbound": _access("allowed", "allowed"),
        "b2bDirectConnectInbound": _access("blocked", "blocked"),
        "b2bDirectConnectOutbound": _access("blocked", "blocked"),
        "inboundTrust": {
            "isMfaAccepted": True,
            "isCompliantDeviceAccepted": False,
            "isHybridAzureADJoinedDeviceAccepted": False,
        },
        "invitationRedemptionIdentityProviderConfiguration": {
            "primaryIdentityProviderPrecedenceOrder": [
                "azureActiveDirectory",
                "externalFederation",
                "socialIdentityProviders",
            ],
            "fallbackIdentityProvider": "defaultConfiguredIdp",
        },
        "automaticUserConsentSettings": {"inboundAllowed": False, "outboundAllowed": False},
        "tenantRestrictions": None,
    }


def cross_tenant_partners(t: Tenant, users: int) -> list[Obj]:
    """Partners override only what differs from the default; ``None`` means inherited."""
    rng: random.Random = t.rng("cross-tenant")
    partners: list[Obj] = []
    for n in range(1 + (users >= 200) + (users >= 5_000)):
        trust = n == 0
        partners.append(
            {
                "tenantId": guid(rng),
                "isServiceProvider": n == 2,
                "isInMultiTenantOrganization": False,
                "b2bCollaborationInbound": None,
                "b2bCollaborationOutbound": None,
                "b2bDirectConnectInbound": _access("allowed", "allowed") if n == 1 else None,
                "b2bDirectConnectOutbound": _access("allowed", "allowed") if n == 1 else None,
                "inboundTrust": {
                    "isMfaAccepted": True,
                    "isCompliantDeviceAccepted": True,
                    "isHybridAzureADJoinedDeviceAccepted": True,
                }
                if trust
                else None,
                "automaticUserConsentSettings": {"inboundAllowed": trust, "outboundAllowed": trust},
                "tenantRestrictions": None,
            }
        )
    return partners
