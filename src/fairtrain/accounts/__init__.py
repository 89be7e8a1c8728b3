"""Layer 1: users and roles, creators, collectives, licensee organisations, API tokens."""

from fairtrain.accounts.models import (
    ApiToken,
    Collective,
    CollectiveMembership,
    CreatorProfile,
    LicenseeMember,
    LicenseeOrg,
    Role,
    User,
)

__all__ = [
    "ApiToken",
    "Collective",
    "CollectiveMembership",
    "CreatorProfile",
    "LicenseeMember",
    "LicenseeOrg",
    "Role",
    "User",
]
