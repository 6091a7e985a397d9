"""`bosun plan`: which infrastructure fits a workload, what it costs, and where it breaks.

    profile = bosun.plan.load_profile("examples/profiles/spiky-small.yaml")
    advice = bosun.plan.advise(profile, seed=0)
    advice.recommendation.label, advice.deploy_command, advice.reasons
    svgs = bosun.plan.chart_svgs(profile)          # needs the `plan` extra (matplotlib)

Layers: `profile` (the workload) and `prices` (every price and limit, overridable) feed
`arch_*` models of each architecture; `simulate` runs arrivals through their scaling;
`evaluate` prices a month; `advise` ranks and recommends; `measure` fits a profile from a
bosun database. See docs/plan.md.
"""

from __future__ import annotations

from bosun.plan.advise import Advice, advise
from bosun.plan.charts import chart_svgs, write_charts
from bosun.plan.deploy import deploy_command
from bosun.plan.evaluate import Estimate, architectures
from bosun.plan.measure import profile_from_store
from bosun.plan.prices import Prices, load_prices, with_overrides
from bosun.plan.profile import Profile, load_profile, parse_profile

__all__ = [
    "Advice",
    "Estimate",
    "Prices",
    "Profile",
    "advise",
    "architectures",
    "chart_svgs",
    "deploy_command",
    "load_prices",
    "load_profile",
    "parse_profile",
    "profile_from_store",
    "with_overrides",
    "write_charts",
]
