"""The production-profile keys (stack/production.py): malformed entries, defaults, secrecy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.config.conftest import PREBUILT, ErrorFn, ParseFn, issue_message, with_overrides

NS = "tims-stack:"
PG = NS + "postgres"
PW = NS + "postgresPassword"
PASSWORD = "hunter2-very-secret-db-password"
EXTERNAL = {"host": "db.example.net", "database": "tims", "user": "tims_app"}
CNPG_BACKUP = {"destinationPath": "s3://acme-backups/tims", "secret": "backup-s3"}


@dataclass(frozen=True)
class Case:
    id: str
    overrides: dict[str, Any]
    key: str
    """The full key the error must name."""
    says: str = ""
    secret_keys: tuple[str, ...] = (PW,)
    stack: str = "dev"
    base: dict[str, Any] = field(default_factory=lambda: PREBUILT)


def scaling(part: str = "backend", resources: dict[str, Any] | None = None, **fields: Any) -> Any:
    value: dict[str, Any] = {"autoscaling": {"min": 2, "max": 4, **fields}}
    if resources is not None:
        value["resources"] = resources
    return {NS + part: value}


def external(**fields: Any) -> dict[str, Any]:
    return {PG: {"mode": "external", "external": {**EXTERNAL, **fields}}, PW: PASSWORD}


def cnpg(**fields: Any) -> dict[str, Any]:
    return {PG: {"mode": "cloudnativepg", "cloudnativepg": fields}}


def backup(**fields: Any) -> dict[str, Any]:
    return cnpg(backup={**CNPG_BACKUP, **fields})


B = NS + "backend"
CASES = [
    # backend/frontend.autoscaling
    Case("autoscaling-not-object", {B: {"autoscaling": 3}}, B + ".autoscaling", "an object"),
    Case("autoscaling-unknown-field", scaling(mn=1), B + ".autoscaling.mn", "Allowed"),
    Case(
        "autoscaling-no-min", {B: {"autoscaling": {"max": 3}}}, B + ".autoscaling.min", "required"
    ),
    Case(
        "autoscaling-no-max", {B: {"autoscaling": {"min": 1}}}, B + ".autoscaling.max", "required"
    ),
    Case("autoscaling-min-zero", scaling(min=0), B + ".autoscaling.min", ">= 1"),
    Case("autoscaling-min-string", scaling(min="2"), B + ".autoscaling.min", "integer"),
    Case("autoscaling-max-too-big", scaling(max=1000), B + ".autoscaling.max", "<= 100"),
    Case("autoscaling-max-below-min", scaling(min=5, max=3), B + ".autoscaling.max", "max >= min"),
    Case("autoscaling-cpu-zero", scaling(cpu=0), B + ".autoscaling.cpu", ">= 1"),
    Case("autoscaling-cpu-float", scaling(cpu=70.5), B + ".autoscaling.cpu", "integer"),
    Case(
        "autoscaling-memory-too-big",
        scaling("frontend", memory=5000),
        NS + "frontend.autoscaling.memory",
        "<= 1000",
    ),
    # postgres.mode and allowModeChange
    Case("mode-unknown", {PG: {"mode": "rds"}}, PG + ".mode", "'external'"),
    Case("mode-wrong-case", {PG: {"mode": "incluster"}}, PG + ".mode", "'inCluster'"),
    Case("mode-not-string", {PG: {"mode": 1}}, PG + ".mode", "'cloudnativepg'"),
    Case(
        "allow-mode-change-string",
        {PG: {"allowModeChange": "yes"}},
        PG + ".allowModeChange",
        "true or false",
    ),
    # postgres.external
    Case("external-missing", {PG: {"mode": "external"}, PW: PASSWORD}, PG + ".external", "host"),
    Case(
        "external-without-mode",
        {PG: {"external": EXTERNAL}},
        PG + ".external",
        "only to mode 'external'",
    ),
    Case("external-no-host", external(host=None), PG + ".external.host", "required"),
    Case("external-bad-host", external(host="db_1.example"), PG + ".external.host", "DNS"),
    Case("external-host-url", external(host="postgres://db"), PG + ".external.host"),
    Case("external-port-zero", external(port=0), PG + ".external.port", ">= 1"),
    Case("external-port-too-big", external(port=70000), PG + ".external.port", "<= 65535"),
    Case("external-port-string", external(port="5432"), PG + ".external.port", "integer"),
    Case("external-no-database", external(database=None), PG + ".external.database", "required"),
    Case("external-bad-database", external(database="my db"), PG + ".external.database"),
    Case("external-no-user", external(user=None), PG + ".external.user", "required"),
    Case("external-empty-user", external(user=""), PG + ".external.user", "identifier"),
    Case("external-ssl-mode", external(sslMode="verify-full"), PG + ".external.sslMode", "disable"),
    Case("external-unknown-field", external(password="x"), PG + ".external.password", "Allowed"),
    # postgresPassword
    Case(
        "password-missing",
        {PG: {"mode": "external", "external": EXTERNAL}},
        PW,
        "--secret tims-stack:postgresPassword",
    ),
    Case("password-plain-text", external(), PW, "plain text", secret_keys=()),
    # postgres.cloudnativepg
    Case(
        "cnpg-without-mode",
        {PG: {"cloudnativepg": {"instances": 1}}},
        PG + ".cloudnativepg",
        "only to mode 'cloudnativepg'",
    ),
    Case(
        "cnpg-not-object",
        {PG: {"mode": "cloudnativepg", "cloudnativepg": 3}},
        PG + ".cloudnativepg",
    ),
    Case("cnpg-instances-zero", cnpg(instances=0), PG + ".cloudnativepg.instances", ">= 1"),
    Case("cnpg-instances-many", cnpg(instances=20), PG + ".cloudnativepg.instances", "<= 9"),
    Case(
        "cnpg-image-latest",
        cnpg(image="ghcr.io/cloudnative-pg/postgresql:latest"),
        PG + ".cloudnativepg.image",
        "pins a version",
    ),
    Case(
        "cnpg-image-untagged",
        cnpg(image="ghcr.io/cloudnative-pg/postgresql"),
        PG + ".cloudnativepg.image",
    ),
    Case(
        "cnpg-operator-namespace",
        cnpg(operatorNamespace="CNPG"),
        PG + ".cloudnativepg.operatorNamespace",
        "RFC 1123",
    ),
    Case("cnpg-unknown-field", cnpg(replicas=3), PG + ".cloudnativepg.replicas", "Allowed"),
    # postgres.cloudnativepg.backup
    Case("backup-not-object", cnpg(backup="s3://x"), PG + ".cloudnativepg.backup", "an object"),
    Case(
        "backup-no-destination",
        cnpg(backup={"secret": "s"}),
        PG + ".cloudnativepg.backup.destinationPath",
        "required",
    ),
    Case(
        "backup-no-secret",
        cnpg(backup={"destinationPath": "s3://acme-backups/x"}),
        PG + ".cloudnativepg.backup.secret",
        "required",
    ),
    Case(
        "backup-destination-not-url",
        backup(destinationPath="/backups"),
        PG + ".cloudnativepg.backup.destinationPath",
        "s3://",
    ),
    # Only s3Credentials are written: a gs:// or Azure destination would never authenticate.
    Case(
        "backup-destination-gcs",
        backup(destinationPath="gs://acme-backups/tims"),
        PG + ".cloudnativepg.backup.destinationPath",
        "s3://",
    ),
    Case(
        "backup-destination-azure",
        backup(destinationPath="https://acme.blob.core.windows.net/backups/tims"),
        PG + ".cloudnativepg.backup.destinationPath",
        "s3://",
    ),
    Case(
        "backup-with-standard-image",
        cnpg(image="ghcr.io/cloudnative-pg/postgresql:18.1-standard-trixie", backup=CNPG_BACKUP),
        PG + ".cloudnativepg.image",
        "barman-cloud",
    ),
    Case(
        "backup-with-minimal-image",
        cnpg(image="ghcr.io/cloudnative-pg/postgresql:17.6-minimal-bookworm", backup=CNPG_BACKUP),
        PG + ".cloudnativepg.image",
        "'system' image",
    ),
    Case(
        "backup-endpoint-http",
        backup(endpointURL="http://minio:9000"),
        PG + ".cloudnativepg.backup.endpointURL",
        "https://",
    ),
    Case(
        "backup-secret-name",
        backup(secret="Backup_S3"),
        PG + ".cloudnativepg.backup.secret",
        "DNS-1123",
    ),
    Case(
        "backup-key-name",
        backup(accessKeyIdKey="access key"),
        PG + ".cloudnativepg.backup.accessKeyIdKey",
        "key name",
    ),
    Case(
        "backup-secret-key-name",
        backup(secretAccessKeyKey=""),
        PG + ".cloudnativepg.backup.secretAccessKeyKey",
        "Secret key name",
    ),
    Case(
        "backup-retention",
        backup(retentionPolicy="30 days"),
        PG + ".cloudnativepg.backup.retentionPolicy",
        "'30d'",
    ),
    Case(
        "backup-unknown-field", backup(bucket="x"), PG + ".cloudnativepg.backup.bucket", "Allowed"
    ),
    # CloudNativePG's cron has a seconds field first (stack/cron.py)
    Case(
        "backup-schedule-crontab",
        backup(schedule="0 3 * * *"),
        PG + ".cloudnativepg.backup.schedule",
        "seconds field",
    ),
    Case(
        "backup-schedule-out-of-range",
        backup(schedule="0 0 24 * * *"),
        PG + ".cloudnativepg.backup.schedule",
        "hours field",
    ),
    Case(
        "backup-schedule-bad-step",
        backup(schedule="0 */0 * * * *"),
        PG + ".cloudnativepg.backup.schedule",
        "step",
    ),
    Case(
        "backup-schedule-word",
        backup(schedule="daily"),
        PG + ".cloudnativepg.backup.schedule",
        "six cron fields",
    ),
    Case(
        "backup-schedule-every",
        backup(schedule="@every 1h"),
        PG + ".cloudnativepg.backup.schedule",
        "@daily",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed_production_config_is_rejected_naming_the_key(
    case: Case, config_error: ErrorFn
) -> None:
    values = with_overrides(case.base, case.overrides)
    error = config_error(values, stack=case.stack, secret_keys=case.secret_keys)
    message = issue_message(error, case.key, case.id)
    assert case.says in message, f"{case.id}: {message!r} does not say {case.says!r}"
    assert PASSWORD not in str(error), f"{case.id}: the password shows in the error"


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "duplicate ids in the production malformed-config table"


# ------------------------------------------------------------------------- defaults


def test_mode_defaults_to_in_cluster(parse: ParseFn) -> None:
    config = parse(PREBUILT)
    assert config.postgres.mode == "inCluster"
    assert (config.postgres.external, config.postgres.cloudnativepg) == (None, None)
    assert config.postgres.allow_mode_change is False
    assert config.backend.autoscaling is None


def test_external_defaults_to_port_5432_and_tls(parse: ParseFn) -> None:
    config = parse({**PREBUILT, **external()}, secret_keys=(PW,))
    assert config.postgres.external is not None
    assert (config.postgres.external.port, config.postgres.external.tls) == (5432, True)


@pytest.mark.parametrize(
    ("stack", "instances"), [("pr-12", 1), ("app-pr-12", 1), ("dev", 3), ("prod", 3), ("app-pr", 3)]
)
def test_cloudnativepg_instances_default_by_environment(
    parse: ParseFn, stack: str, instances: int
) -> None:
    config = parse({**PREBUILT, **cnpg()}, stack=stack)
    assert config.postgres.cloudnativepg is not None
    assert config.postgres.cloudnativepg.instances is None, "unset: chosen per environment"
    assert config.postgres.cloudnativepg.instance_count(config.environment) == instances, stack


def test_backup_schedule_defaults_to_daily_at_three(parse: ParseFn) -> None:
    config = parse({**PREBUILT, **backup()})
    assert config.postgres.cloudnativepg is not None
    assert config.postgres.cloudnativepg.backup is not None
    assert config.postgres.cloudnativepg.backup.schedule == "0 0 3 * * *"


@pytest.mark.parametrize(
    "schedule", ["0 30 2 * * *", "0 0 */6 * * mon-fri", "0 0 0 1 jan,jul ?", "@weekly"]
)
def test_backup_schedule_takes_what_the_operator_parses(parse: ParseFn, schedule: str) -> None:
    """robfig/cron v1.2.0 (parser.go, getRange, parseDescriptor): steps, ranges, names, `?`."""
    config = parse({**PREBUILT, **backup(schedule=schedule)})
    assert config.postgres.cloudnativepg is not None
    assert config.postgres.cloudnativepg.backup is not None
    assert config.postgres.cloudnativepg.backup.schedule == schedule


def test_autoscaling_cpu_defaults_to_70_percent(parse: ParseFn) -> None:
    config = parse({**PREBUILT, **scaling()})
    assert config.backend.autoscaling is not None
    assert (config.backend.autoscaling.cpu, config.backend.autoscaling.memory) == (70, None)


def test_autoscaling_with_default_resources_is_accepted(parse: ParseFn) -> None:
    """No resources configured: the program's defaults request both CPU and memory."""
    config = parse({**PREBUILT, **scaling(memory=80)})
    assert config.backend.autoscaling is not None


def test_autoscaling_target_keeps_the_default_request_of_its_resource(parse: ParseFn) -> None:
    """Setting only a cpu request keeps the default memory request a memory target needs."""
    config = parse({**PREBUILT, **scaling(resources={"requests": {"cpu": "250m"}}, memory=80)})
    assert "memory" in config.backend.resources.requests, "backend: memory request dropped"


def test_autoscaling_targets_may_rest_on_limits_alone(parse: ParseFn) -> None:
    """A limit without a request makes Kubernetes request the limit: a valid HPA target."""
    resources = {"limits": {"cpu": "1", "memory": "512Mi"}}
    config = parse({**PREBUILT, **scaling(resources=resources, memory=80)})
    assert config.backend.autoscaling is not None


def test_replicas_next_to_autoscaling_draws_a_note(parse: ParseFn) -> None:
    notes: list[str] = []
    parse({**PREBUILT, B: {"replicas": 3, "autoscaling": {"min": 2, "max": 4}}}, warn=notes.append)
    assert any("backend.replicas is not used" in n for n in notes), notes


def test_unused_password_draws_a_note(parse: ParseFn) -> None:
    notes: list[str] = []
    parse({**PREBUILT, PW: PASSWORD}, secret_keys=(PW,), warn=notes.append)
    assert any("postgresPassword is set but" in n for n in notes), notes
    assert not any(PASSWORD in n for n in notes)


def test_in_cluster_image_with_cloudnativepg_draws_a_note(parse: ParseFn) -> None:
    notes: list[str] = []
    values = {PG: {"mode": "cloudnativepg", "image": "postgres:18-alpine"}}
    parse({**PREBUILT, **values}, warn=notes.append)
    assert any("postgres.image is not used" in n for n in notes), notes


def test_allow_mode_change_left_on_draws_a_note(parse: ParseFn) -> None:
    """Left true after a migration, it would let any later mode change through unasked."""
    notes: list[str] = []
    parse({**PREBUILT, PG: {"allowModeChange": True}}, warn=notes.append)
    assert any("allowModeChange is true" in n and "config rm" in n for n in notes), notes
    quiet: list[str] = []
    parse({**PREBUILT, PG: {"allowModeChange": False}}, warn=quiet.append)
    assert not any("allowModeChange" in n for n in quiet), quiet


def test_allow_mode_change_is_read(parse: ParseFn) -> None:
    config = parse({**PREBUILT, PG: {"mode": "cloudnativepg", "allowModeChange": True}})
    assert config.postgres.allow_mode_change is True


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/cloudnative-pg/postgresql:18.1-standard-trixie",
        "ghcr.io/cloudnative-pg/postgresql:17.6-minimal-bookworm",
    ],
)
def test_an_image_without_barman_cloud_is_fine_without_backups(parse: ParseFn, image: str) -> None:
    config = parse({**PREBUILT, **cnpg(image=image)})
    assert config.postgres.cloudnativepg is not None
    assert config.postgres.cloudnativepg.image == image


def test_backup_accepts_a_system_image(parse: ParseFn) -> None:
    image = "ghcr.io/cloudnative-pg/postgresql:18.1-system-trixie"
    config = parse({**PREBUILT, **cnpg(image=image, backup=CNPG_BACKUP)})
    assert config.postgres.cloudnativepg is not None
    assert config.postgres.cloudnativepg.backup is not None
