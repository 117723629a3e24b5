"""keytrail findings --format asff | ocsf | sarif: the documents, their stable ids, -o files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factory import scenario as sc

ROOT_ID = "keytrail-v1-546d0600328fccdaec09bb3b9b3a347332f76b78"  # root-use on K_APP by the root user


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("formats")
    path = str(tmp / "store.duckdb")
    sc.scenario_store(tmp, db=path).close()
    return path


def run(*args: str) -> tuple[int, str, str]:
    from keytrail.cli.main import cli

    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_sarif_result_exactly(db: str) -> None:
    code, out, err = run("findings", "--db", db, "--since", "2026-11-08", "--kind", "root-use", "--format", "sarif")
    assert (code, err) == (0, "keytrail: 1 finding(s): 1 high\n")
    log = json.loads(out)
    assert [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]] == ["root-use"]
    (result,) = log["runs"][0]["results"]
    assert result["message"] == {
        "text": "the root user arn:aws:iam::111122223333:root called 00000000-0000-4000-8000-000000000001 "
                "(111122223333, us-east-1): 1 call. Stop using the root user for KMS: use an IAM role; find who "
                "holds the root credentials and rotate or remove its access keys.",
        "markdown": "**root-use**: the root user arn:aws:iam::111122223333:root called "
                    "00000000-0000-4000-8000-000000000001 \\(111122223333, us-east-1\\): 1 call.\n\nRecommendation: "
                    "Stop using the root user for KMS: use an IAM role; find who holds the root credentials and "
                    "rotate or remove its access keys.",
    }
    assert result["fingerprints"] == {"keytrail/v1": ROOT_ID}
    assert [loc["logicalLocations"][0]["fullyQualifiedName"] for loc in result["locations"]] == [
        sc.K_APP, "arn:aws:iam::111122223333:root"]


def test_the_same_ids_in_every_format_and_every_run(db: str) -> None:
    ids = {}
    for fmt in ("asff", "ocsf", "sarif"):
        code, out, _ = run("findings", "--db", db, "--since", "2026-11-08", "--format", fmt, "-q")
        assert code == 0
        doc = json.loads(out)
        if fmt == "asff":
            ids[fmt] = [f["Id"] for f in doc["Findings"]]
        elif fmt == "ocsf":
            ids[fmt] = [e["finding_info"]["uid"] for e in doc]
        else:
            ids[fmt] = [r["fingerprints"]["keytrail/v1"] for r in doc["runs"][0]["results"]]
    assert ids["asff"] == ids["ocsf"] == ids["sarif"] and ROOT_ID in ids["asff"]
    assert len(set(ids["asff"])) == len(ids["asff"])
    # another window: the findings that remain keep their ids
    code, out, _ = run("findings", "--db", db, "--since", "2026-11-01", "--format", "sarif", "-q")
    later = {r["fingerprints"]["keytrail/v1"] for r in json.loads(out)["runs"][0]["results"]}
    assert ROOT_ID in later


def test_asff_to_a_file_for_a_region(db: str, tmp_path: Path) -> None:
    target = tmp_path / "findings.asff.json"
    code, out, _ = run("findings", "--db", db, "--kind", "root-use", "--since", "2026-11-08", "--format", "asff",
                       "--region", "eu-west-1", "-o", str(target), "-q")
    assert (code, out) == (0, "")
    assert os.stat(target).st_mode & 0o777 == 0o600
    (finding,) = json.loads(target.read_text())["Findings"]
    assert finding["ProductArn"] == "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
    assert (finding["Id"], finding["GeneratorId"], finding["AwsAccountId"]) == (ROOT_ID, "keytrail/root-use", "111122223333")
    assert finding["Types"] == ["Unusual Behaviors/User/root-use"]
    assert finding["Resources"][0]["Details"] == {"AwsKmsKey": {"AWSAccountId": "111122223333",
                                                               "KeyId": "00000000-0000-4000-8000-000000000001"}}
    assert (finding["FirstObservedAt"], finding["LastObservedAt"], finding["CreatedAt"]) == (
        "2026-11-08T08:00:00Z", "2026-11-08T08:00:00Z", "2026-11-08T08:00:00Z")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", finding["UpdatedAt"])


def test_unknown_format_is_a_usage_error(db: str) -> None:
    code, _, err = run("findings", "--db", db, "--format", "xml")
    assert code == 2 and "'xml' is not one of" in err and "'sarif'" in err
