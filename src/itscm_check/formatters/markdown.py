"""Markdown for $GITHUB_STEP_SUMMARY and pull-request comments: verdict, counts, failed findings, expiring waivers."""

from __future__ import annotations

import jinja2
from markupsafe import Markup, escape

from itscm_check.findings import NEW
from itscm_check.formatters import printable
from itscm_check.report import NEVER, Report, blocking, why_not_blocking

MAX_ROWS = 50  # a PR comment stays readable; the full list is in the other formats

# Inventory text is untrusted and a Markdown table cell cannot hold every character, so findings
# go in an HTML table (GitHub renders it) and jinja2 escapes every value.
_TEMPLATE = """\
## {{ icon }} itscm-check: {{ verdict }}

As of {{ as_of }}: {{ services }} services, {{ rules }} rules; {% if fail_on == NEVER %}never fails (report only){% else %}fails on {{ fail_on }} and above{% endif %}.
{%- if baseline %} Compared with {{ baseline }}: {{ new }} new failed, {{ fixed }} fixed; only new findings block.{% endif %}

| critical | high | medium | low | info | waived |
|---:|---:|---:|---:|---:|---:|
| {{ counts.critical }} | {{ counts.high }} | {{ counts.medium }} | {{ counts.low }} | {{ counts.info }} | {{ waived|length }} |
{% if rows %}
<table>
<tr><th>severity</th><th>rule</th><th>target</th><th>message</th><th>location</th>{% if baseline %}<th>baseline</th>{% endif %}</tr>
{% for f in rows -%}
<tr><td>{{ f.severity }}</td><td>{{ f.rule_id }}</td><td>{{ f.target|cell }}</td><td>{{ f.message|cell }}</td><td>{{ f.location|cell }}</td>{% if baseline %}<td>{{ f.baseline }}</td>{% endif %}</tr>
{% endfor -%}
</table>
{% if more %}
...and {{ more }} more failed finding(s): see the full report.
{% endif %}{% endif %}{% if fixed_rows %}
### Fixed since {{ baseline }}

<table>
<tr><th>severity</th><th>rule</th><th>target</th><th>message</th></tr>
{% for f in fixed_rows -%}
<tr><td>{{ f.severity }}</td><td>{{ f.rule_id }}</td><td>{{ f.target|cell }}</td><td>{{ f.message|cell }}</td></tr>
{% endfor -%}
</table>
{% if fixed > fixed_rows|length %}
...and {{ fixed - fixed_rows|length }} more: see the full report.
{% endif %}{% endif %}{% if waived %}
### Waived findings

<table>
<tr><th>severity</th><th>rule</th><th>target</th><th>message</th><th>reason</th><th>approved by</th><th>expires</th></tr>
{% for f in waived -%}
<tr><td>{{ f.severity }}</td><td>{{ f.rule_id }}</td><td>{{ f.target|cell }}</td><td>{{ f.message|cell }}</td><td>{{ f.waiver.reason|cell }}</td><td>{{ f.waiver.approved_by|cell }}</td><td>{{ f.waiver.expires }}</td></tr>
{% endfor -%}
</table>
{% endif %}{% if expiring %}
### Waivers expiring within {{ expiring_days }} days

<table>
<tr><th>rule</th><th>target</th><th>expires</th><th>approved by</th><th>reason</th></tr>
{% for w in expiring -%}
<tr><td>{{ w.rule|cell }}</td><td>{{ w.target|cell }}</td><td>{{ w.expires }}</td><td>{{ w.approved_by|cell }}</td><td>{{ w.reason|cell }}</td></tr>
{% endfor -%}
</table>
{% endif %}"""

_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _cell(value: object) -> Markup:
    """A table cell on one line: a blank line inside the HTML table would end it, and the rest
    of the text would be read as Markdown (headings, images fetched from anywhere)."""
    return Markup("<br>").join(escape(printable(line)) for line in str(value).splitlines())


_env.filters["cell"] = _cell


def render(report: Report, *, color: bool = False) -> str:
    # New findings first: in a pull request they are the ones that matter.
    failed = sorted(report.failed, key=lambda f: f.baseline != NEW) if report.baseline else list(report.failed)
    blocked = blocking(report)
    if blocked:
        what = "new finding(s)" if report.baseline else "finding(s)"
        icon, verdict = "❌", f"{len(blocked)} {what} at or above {report.fail_on}"
    elif report.fail_on == NEVER:
        icon, verdict = "✅", f"report only, {len(failed)} failed finding(s)"
    else:
        icon, verdict = "✅", "passed" if not failed else f"passed with {why_not_blocking(report)}"
    return _env.from_string(_TEMPLATE).render(
        icon=icon, verdict=verdict, as_of=report.as_of.isoformat(), services=report.services,
        rules=len(report.rules), fail_on=report.fail_on, counts=report.by_severity(), waived=report.waived,
        rows=failed[:MAX_ROWS], more=max(0, len(failed) - MAX_ROWS), expiring=report.expiring_waivers(),
        expiring_days=report.warn_expiring_days, baseline=report.baseline,
        new=sum(1 for f in report.failed if f.baseline == NEW), fixed=len(report.fixed),
        fixed_rows=report.fixed[:MAX_ROWS], NEVER=NEVER)
