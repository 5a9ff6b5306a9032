"""The public datasets' published formats, as fixed column roles (the generic CSV profile infers them).

- PaySim (synthetic mobile money, Kaggle "ealaxi/paysim1"): one row per transfer, `step` in hours from
  the start of the simulation; the origin account pays the destination.
- ULB credit-card fraud (Kaggle "mlg-ulb/creditcardfraud", `creditcard.csv`): `Time` in seconds from the
  first row, `V1`..`V28` PCA components of undisclosed features, `Amount`, `Class` 1 = fraud.
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudguard.data.schema import Role


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    roles: dict[str, tuple[Role, str]]  # column -> (role, why), in the published order
    time_unit: str

    @property
    def columns(self) -> list[str]:
        return list(self.roles)


_PROFILE = "the profile"
PAYSIM = Profile(
    name="paysim",
    title="PaySim",
    roles={
        "step": (Role.TIME, "hours from the start (--start)"),
        "type": (Role.CATEGORICAL, _PROFILE),
        "amount": (Role.NUMERIC, _PROFILE),
        "nameOrig": (Role.USER, "the paying account"),
        "oldbalanceOrg": (Role.NUMERIC, _PROFILE),
        "newbalanceOrig": (Role.NUMERIC, _PROFILE),
        "nameDest": (Role.MERCHANT, "the receiving account"),
        "oldbalanceDest": (Role.NUMERIC, _PROFILE),
        "newbalanceDest": (Role.NUMERIC, _PROFILE),
        "isFraud": (Role.LABEL, _PROFILE),
        "isFlaggedFraud": (Role.IGNORE, "the source system's own rule flag, not a model input"),
    },
    time_unit="h",
)
CREDITCARD = Profile(
    name="creditcard",
    title="credit-card fraud (ULB)",
    roles={
        "Time": (Role.TIME, "seconds from the first row (--start)"),
        **{f"V{i}": (Role.NUMERIC, "a PCA component") for i in range(1, 29)},
        "Amount": (Role.NUMERIC, _PROFILE),
        "Class": (Role.LABEL, _PROFILE),
    },
    time_unit="s",
)
PROFILES = {profile.name: profile for profile in (PAYSIM, CREDITCARD)}
GENERIC = "csv"
