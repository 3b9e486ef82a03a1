"""CloudNativePG's backup schedule syntax, checked before any resource is registered.

The operator parses `ScheduledBackup.spec.schedule` with robfig/cron v1.2.0's
`cron.Parse` (internal/webhook/v1/scheduledbackup_webhook.go, validate;
internal/controller/scheduledbackup_controller.go, reconcileScheduledBackup):
six fields, SECONDS first, then minute, hour, day of month, month, day of
week, or a descriptor. That parser also takes five fields (the day of week is
optional: parser.go, `defaultParser` with DowOptional), so a Kubernetes
CronJob line like "0 3 * * *" (03:00 daily) is accepted and means "at minute 3
of every hour"; the webhook only warns. Here five fields are an error instead.
"""

from __future__ import annotations

DEFAULT_SCHEDULE = "0 0 3 * * *"
"""Every day at 03:00:00 in the operator's time zone."""
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...], int], ...] = (
    # name, min, max, names, value of the first name (robfig/cron parser.go `bounds`)
    ("seconds", 0, 59, (), 0),
    ("minutes", 0, 59, (), 0),
    ("hours", 0, 23, (), 0),
    ("day of month", 1, 31, (), 0),
    ("month", 1, 12, _MONTHS, 1),
    ("day of week", 0, 6, _DAYS, 0),
)
RULE = (
    "six cron fields with seconds first (seconds minutes hours day-of-month month "
    "day-of-week, e.g. '0 0 3 * * *' for 03:00 daily) or one of " + ", ".join(DESCRIPTORS)
)


def _number(token: str, names: tuple[str, ...], first: int) -> int | None:
    if token.lower() in names:
        return names.index(token.lower()) + first
    return int(token) if token.isdigit() else None


def _range_problem(expr: str, field: tuple[str, int, int, tuple[str, ...], int]) -> str | None:
    """One comma-separated part of a field, as robfig/cron's getRange reads it."""
    name, low, high, names, first = field
    range_part, _, step = expr.partition("/")
    if "/" in step or (step and not step.isdigit()) or step == "0":
        return f"has a bad step in its {name} field ({expr!r}); a step is a positive number"
    if range_part in ("*", "?"):
        return None
    bounds = range_part.split("-")
    if len(bounds) > 2:
        return f"has too many hyphens in its {name} field ({expr!r})"
    numbers = [n for n in (_number(b, names, first) for b in bounds) if n is not None]
    if len(numbers) != len(bounds):
        return f"has {expr!r} in its {name} field, which is not a number, name or range"
    start, end = numbers[0], numbers[-1]
    if start < low or end > high or start > end:
        return f"has {expr!r} in its {name} field, outside {low}-{high}"
    return None


def schedule_problem(schedule: str) -> str | None:
    """None for a schedule the operator runs as meant, else why not."""
    if schedule.startswith("@"):
        if schedule in DESCRIPTORS:
            return None
        return f"is not a descriptor the program accepts; expected one of {', '.join(DESCRIPTORS)}"
    fields = schedule.split()
    if len(fields) == 5:
        return (
            "has five fields: CloudNativePG reads the first as seconds, so this is not the "
            "crontab schedule it looks like; add a seconds field in front, e.g. '0 0 3 * * *'"
        )
    if len(fields) != len(_FIELDS):
        return f"has {len(fields)} field(s); expected {RULE}"
    for value, field in zip(fields, _FIELDS, strict=True):
        for expr in value.split(","):
            if problem := _range_problem(expr, field):
                return problem
    return None
