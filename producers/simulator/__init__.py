"""A synthetic year of Longwan district, calibrated on the justice bureau's 2022 report.

Pure generation, no Kafka: ``simulate(profile, seed)`` returns every intake event of the year
in event-time order together with the ground-truth manifest of what was planted. The CLI
(``fengqiao simulate``) publishes the events; ``fengqiao report`` compares the pipeline's
counts with the manifest. Every figure that does not come from the report is an assumption,
written down in ``calibration`` and in ``producers/profiles/LONGWAN-2022.md``.

``calibration`` holds the figures, ``moments`` and ``names`` draw when and who, ``background``
and ``planted`` generate the events, ``counts`` takes the ground truth and ``year`` puts it
together.
"""

from producers.simulator.calibration import CST, Profile, profile
from producers.simulator.year import SimEvent, Simulation, simulate

__all__ = ["CST", "Profile", "SimEvent", "Simulation", "profile", "simulate"]
