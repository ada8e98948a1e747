"""Control references: which framework each one belongs to, for coverage matrices and tags."""

from __future__ import annotations

from dataclasses import dataclass

# Prefix of a control reference -> framework name, longest prefixes first.
FRAMEWORKS = (
    ("ISO22301:", "ISO 22301:2019"),
    ("NIST-800-34:", "NIST SP 800-34 Rev. 1"),
    ("NIST-", "NIST SP 800-53 Rev. 5"),
    ("ISO27001:", "ISO/IEC 27001:2022"),
    ("SOC2:", "SOC 2"),
    ("DORA:", "DORA"),
    ("RTS-", "DORA"),
    ("FIPS-", "FIPS 199"),
    ("FFIEC:", "FFIEC"),
)


@dataclass(frozen=True, order=True)
class Control:
    framework: str
    reference: str  # as written in the rule, e.g. "ISO22301:8.5"

    @property
    def clause(self) -> str:
        """The reference without its framework prefix ("8.5", "CP-4")."""
        for prefix, framework in FRAMEWORKS:
            if framework == self.framework and self.reference.startswith(prefix):
                return self.reference[len(prefix):]
        return self.reference


def parse(reference: str) -> Control:
    for prefix, framework in FRAMEWORKS:
        if reference.startswith(prefix):
            return Control(framework, reference)
    return Control("Other", reference)
