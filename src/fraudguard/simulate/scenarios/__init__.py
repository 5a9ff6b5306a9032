"""The fraud scenarios, by the name used in `simulator.scenario_mix`."""

from fraudguard.simulate.scenarios.account_takeover import AccountTakeover
from fraudguard.simulate.scenarios.base import Scenario
from fraudguard.simulate.scenarios.card_testing import CardTesting
from fraudguard.simulate.scenarios.compromised_merchant import CompromisedMerchant
from fraudguard.simulate.scenarios.fresh_account_abuse import FreshAccountAbuse
from fraudguard.simulate.scenarios.impossible_travel import ImpossibleTravel

SCENARIOS: dict[str, type[Scenario]] = {
    scenario.name: scenario
    for scenario in (AccountTakeover, CardTesting, CompromisedMerchant, ImpossibleTravel, FreshAccountAbuse)
}

__all__ = ["SCENARIOS", "Scenario"]
