"""Drives a verdict server with the official ResultsDB client (resultsdb-api from PyPI).

Usage: client_test.py http://127.0.0.1:PORT/api/v2.0   (prints ALL OK on success)
"""
import sys

import resultsdb_api


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main(api_url):
    api = resultsdb_api.ResultsDBapi(api_url, max_retries=0)

    tc = api.create_testcase(name="dist.rpmlint", ref_url="https://example.org/rpmlint")
    check(tc["name"] == "dist.rpmlint" and tc["ref_url"] == "https://example.org/rpmlint", tc)
    check(api.update_testcase("dist.rpmlint", url="https://example.org/v2")["ref_url"] == "https://example.org/v2", "update_testcase")

    group = api.create_group(description="koschei run 42")
    check(len(group["uuid"]) == 36 and group["results_count"] == 0, group)
    check(api.update_group(group["uuid"], ref_url="https://ci/42")["ref_url"] == "https://ci/42", "update_group")

    created = []
    for i, (outcome, arch) in enumerate([("PASSED", "x86_64"), ("FAILED", "aarch64"), ("info", "x86_64")]):
        r = api.create_result(
            outcome=outcome,
            testcase={"name": "dist.rpmlint"} if i else "dist.rpmlint",
            groups=[group["uuid"]],
            note="run %d" % i,
            ref_url="https://ci/42/%d" % i,
            item="koschei-1.7.2-1.fc24",
            type="koji_build",
            arch=[arch, "noarch"],
            attempt=i,
        )
        check(r["outcome"] == outcome.upper() and r["data"]["arch"] == [arch, "noarch"], r)
        check(r["data"]["attempt"] == [str(i)] and r["groups"] == [group["uuid"]], r)
        created.append(r)

    one = api.get_result(created[1]["id"])
    check(one == created[1], (one, created[1]))

    res = api.get_results(item="koschei-1.7.2-1.fc24", outcome=["PASSED", "FAILED"])
    check([r["id"] for r in res["data"]] == [created[1]["id"], created[0]["id"]], res)
    res = api.get_results(testcases_like="dist.*", arch="x86_64", limit=1)
    check(len(res["data"]) == 1 and res["next"] is not None and res["prev"] is None, res)
    check(res["data"][0]["id"] == created[2]["id"], res)
    res = api.get_results(groups=[group["uuid"]], since="2000-01-01")
    check(len(res["data"]) == 3, res)
    res = api.get_results(raw_params={"arch:like": "aarch*"})
    check([r["id"] for r in res["data"]] == [created[1]["id"]], res)

    check(api.get_testcase("dist.rpmlint")["ref_url"] == "https://example.org/v2", "get_testcase")
    tcs = api.get_testcases(name_like="dist.*")
    check([t["name"] for t in tcs["data"]] == ["dist.rpmlint"], tcs)
    check(api.get_group(group["uuid"])["results_count"] == 3, "group count")
    check(any(g["uuid"] == group["uuid"] for g in api.get_groups(description_like="koschei*")["data"]), "get_groups")

    try:
        api.create_result(outcome="SOMETIMES", testcase="dist.rpmlint")
        raise AssertionError("invalid outcome accepted")
    except resultsdb_api.ResultsDBapiException as e:
        check(e.response is not None and e.response.status_code == 400, e)
    try:
        api.get_result(999999)
        raise AssertionError("missing result found")
    except resultsdb_api.ResultsDBapiException as e:
        check("Result not found" in e.message, e.message)

    print("ALL OK")


if __name__ == "__main__":
    main(sys.argv[1])
