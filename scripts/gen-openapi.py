#!/usr/bin/env python3
"""Writes `tests/data/openapi/large-3.0.json`: an OpenAPI 3.0.3 document of exactly 640 operations.

Test data for the usage page's never-called list: the API's declared routes (read from an
OpenAPI document) are an inventory larger than the usage table's 512 rows, so the tests see what
happens to the routes beyond them. The document is shaped like a large real API (a code-hosting
service): resource groups nested a few levels deep (`/repos/{owner}/{repo}/issues/{issue_number}/
comments`, `/orgs/{org}/teams/{team_slug}/members/{username}`), action paths (`…/merges`,
`…/rerun`), every method but `options` (a handful of `head`), and the `info`, `tags`,
`parameters`, `responses` and `components` a parser must skip.

Every path can be mounted on an axum 0.8 router as it stands: each segment is a literal of
[a-z0-9_-] or exactly one `{param}` ([a-z_]+), no trailing slash, no duplicate, and no two paths
that differ only in the names of their parameters (a literal beside a parameter at the same
position is fine: the literal wins). The script checks all of that before writing.

The route tree below declares a few more operations than 640; a fixed seed picks the ones left
out (never a `head`), so the output is the same on every run. `servers` is
`https://api.example.test`: no path prefix. Prints the number of operations written.

Usage: python3 scripts/gen-openapi.py [output-file]
"""

import json
import random
import re
import sys
from pathlib import Path

DEFAULT_OUT = Path(__file__).parent.parent / "tests/data/openapi/large-3.0.json"
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
TOTAL = 640
SEED = 20250612

# The route tree: each line is a path segment (or several) relative to the line it is indented
# under (two spaces a level), then the methods declared on it (none: just a prefix).
TREE = """
/meta get head
/rate_limit get head
/emojis get
/zen get
/octocat get
/events get
/feeds get
/markdown post
  /raw post
/licenses get
  /{license} get
/codes_of_conduct get
  /{key} get
/gitignore/templates get
  /{name} get
/repositories get
/organizations get
/search
  /code get
  /commits get
  /issues get
  /labels get
  /repositories get
  /topics get
  /users get
/notifications get put
  /threads/{thread_id} get patch delete
    /subscription get put delete
/app get
  /installations get
    /{installation_id} get delete
      /access_tokens post
      /suspended put delete
  /hook/config get patch
  /hook/deliveries get
    /{delivery_id} get
      /attempts post
/apps/{app_slug} get
/applications/{client_id}
  /token post patch delete
    /scoped post
  /grant delete
/installation/repositories get
/installation/token delete
/gists get post
  /public get
  /starred get
  /{gist_id} get head patch delete
    /comments get post
      /{comment_id} get patch delete
    /commits get
    /forks get post
    /star get put delete
    /{sha} get
/projects/{project_id} get patch delete
  /columns get post
  /collaborators get
    /{username} put delete
      /permission get
/projects/columns/{column_id} get patch delete
  /cards get post
  /moves post
/projects/columns/cards/{card_id} get patch delete
  /moves post
/users get
  /{username} get head
    /repos get
    /followers get
    /following get
      /{target_user} get
    /gists get
    /keys get
    /gpg_keys get
    /ssh_signing_keys get
    /orgs get
    /events get
      /public get
      /orgs/{org} get
    /received_events get
      /public get
    /starred get
    /subscriptions get
    /hovercard get
    /projects get
    /packages get
      /{package_type}/{package_name} get delete
        /restore post
        /versions get
          /{package_version_id} get delete
            /restore post
    /settings/billing/actions get
    /settings/billing/packages get
/user get patch
  /repos get post
  /emails get post delete
    /visibility patch
  /public_emails get
  /followers get
  /following get
    /{username} get put delete
  /keys get post
    /{key_id} get delete
  /gpg_keys get post
    /{gpg_key_id} get delete
  /ssh_signing_keys get post
    /{ssh_signing_key_id} get delete
  /starred get
    /{owner}/{repo} get put delete
  /subscriptions get
  /orgs get
  /memberships/orgs get
    /{org} get patch
  /teams get
  /issues get
  /installations get
    /{installation_id}/repositories get
      /{repository_id} put delete
  /migrations get post
    /{migration_id} get
      /archive get delete
      /repositories get
  /blocks get
    /{username} get put delete
  /codespaces get post
    /secrets get
      /public-key get
      /{secret_name} get put delete
    /{codespace_name} get patch delete
      /start post
      /stop post
      /exports post
  /interaction-limits get put delete
  /repository_invitations get
    /{invitation_id} patch delete
  /social_accounts get post delete
  /packages get
    /{package_type}/{package_name} get delete
      /versions get
        /{package_version_id} get delete
/orgs/{org} get patch delete
  /members get
    /{username} get delete
  /memberships/{username} get put delete
  /public_members get
    /{username} get put delete
  /outside_collaborators get
    /{username} put delete
  /failed_invitations get
  /invitations get post
    /{invitation_id} delete
      /teams get
  /teams get post
    /{team_slug} get patch delete
      /members get
        /{username} get put delete
      /memberships/{username} get put delete
      /repos get
        /{owner}/{repo} get put delete
      /teams get
      /invitations get
      /projects get
        /{project_id} get put delete
      /discussions get post
        /{discussion_number} get patch delete
          /reactions get post
            /{reaction_id} delete
          /comments get post
            /{comment_number} get patch delete
              /reactions get post
                /{reaction_id} delete
  /repos get post
  /hooks get post
    /{hook_id} get patch delete
      /config get patch
      /deliveries get
        /{delivery_id} get
          /attempts post
      /pings post
  /blocks get
    /{username} get put delete
  /installations get
  /installation get
  /audit-log get
  /events get
  /issues get
  /projects get post
  /migrations get post
    /{migration_id} get
      /archive get delete
      /repos/{repo_name}/lock delete
  /interaction-limits get put delete
  /security-managers get
    /teams/{team_slug} put delete
  /packages get
    /{package_type}/{package_name} get delete
      /restore post
      /versions get
        /{package_version_id} get delete
          /restore post
  /settings/billing/actions get
  /settings/billing/packages get
  /settings/billing/shared-storage get
  /actions/permissions get put
    /repositories get put
      /{repository_id} put delete
    /selected-actions get put
    /workflow get put
  /actions/secrets get
    /public-key get
    /{secret_name} get put delete
      /repositories get put
        /{repository_id} put delete
  /actions/variables get post
    /{name} get patch delete
      /repositories get put
  /actions/runners get
    /downloads get
    /registration-token post
    /remove-token post
    /{runner_id} get delete
      /labels get post put delete
        /{name} delete
  /actions/runner-groups get post
    /{runner_group_id} get patch delete
      /repositories get put
      /runners get put
        /{runner_id} put delete
  /actions/cache/usage get
  /dependabot/secrets get
    /public-key get
    /{secret_name} get put delete
  /dependabot/alerts get
  /code-scanning/alerts get
  /secret-scanning/alerts get
/repos/{owner}/{repo} get patch delete
  /issues get post
    /comments get
      /{comment_id} get patch delete
        /reactions get post
          /{reaction_id} delete
    /events get
      /{event_id} get
    /{issue_number} get patch
      /comments get post
      /events get
      /timeline get
      /labels get post put delete
        /{name} delete
      /assignees post delete
        /{assignee} get
      /lock put delete
      /reactions get post
        /{reaction_id} delete
  /pulls get post
    /comments get
      /{comment_id} get patch delete
        /reactions get post
          /{reaction_id} delete
    /{pull_number} get patch
      /commits get
      /files get
      /merge get put
      /update-branch put
      /comments get post
        /{comment_id}/replies post
      /requested_reviewers get post delete
      /reviews get post
        /{review_id} get put delete
          /comments get
          /events post
          /dismissals put
  /labels get post
    /{name} get patch delete
  /milestones get post
    /{milestone_number} get patch delete
      /labels get
  /assignees get
    /{assignee} get
  /branches get
    /{branch} get
      /rename post
      /protection get put delete
        /required_status_checks get patch delete
          /contexts get post put delete
        /enforce_admins get post delete
        /required_pull_request_reviews get patch delete
        /required_signatures get post delete
        /restrictions get delete
  /commits get
    /{commit_sha} get
      /comments get post
      /status get
      /statuses get
      /check-runs get
      /check-suites get
      /pulls get
      /branches-where-head get
  /comments get
    /{comment_id} get patch delete
      /reactions get post
        /{reaction_id} delete
  /compare/{basehead} get
  /statuses/{status_sha} post
  /readme get
    /{dir} get
  /tarball/{ref_name} get head
  /zipball/{ref_name} get head
  /contributors get
  /languages get
  /tags get
    /protection get post
      /{tag_protection_id} delete
  /teams get
  /topics get put
  /stargazers get
  /subscribers get
  /subscription get put delete
  /forks get post
  /merges post
  /merge-upstream post
  /dispatches post
  /transfer post
  /generate post
  /events get
  /license get
  /activity get
  /vulnerability-alerts get put delete
  /automated-security-fixes get put delete
  /private-vulnerability-reporting put delete
  /collaborators get
    /{username} get put delete
      /permission get
  /invitations get
    /{invitation_id} patch delete
  /hooks get post
    /{hook_id} get patch delete
      /config get patch
      /deliveries get
        /{delivery_id} get
          /attempts post
      /pings post
      /tests post
  /keys get post
    /{key_id} get delete
  /autolinks get post
    /{autolink_id} get delete
  /releases get post
    /latest get
    /generate-notes post
    /tags/{tag} get
    /assets/{asset_id} get head patch delete
    /{release_id} get patch delete
      /assets get post
      /reactions get post
        /{reaction_id} delete
  /deployments get post
    /{deployment_id} get delete
      /statuses get post
        /{status_id} get
  /environments get
    /{environment_name} get put delete
      /deployment-branch-policies get post
        /{branch_policy_id} get put delete
      /secrets get
        /public-key get
        /{secret_name} get put delete
      /variables get post
        /{name} get patch delete
  /actions/permissions get put
    /access get put
    /selected-actions get put
    /workflow get put
  /actions/workflows get
    /{workflow_id} get
      /dispatches post
      /enable put
      /disable put
      /runs get
      /timing get
  /actions/runs get
    /{run_id} get delete
      /approve post
      /cancel post
      /force-cancel post
      /rerun post
      /rerun-failed-jobs post
      /jobs get
      /logs get delete
      /artifacts get
      /timing get
      /pending_deployments get post
      /attempts/{attempt_number} get
        /jobs get
        /logs get
  /actions/jobs/{job_id} get
    /logs get
    /rerun post
  /actions/artifacts get
    /{artifact_id} get delete
      /{archive_format} get head
  /actions/caches get delete
    /{cache_id} delete
  /actions/cache/usage get
  /actions/secrets get
    /public-key get
    /{secret_name} get put delete
  /actions/organization-secrets get
  /actions/variables get post
    /{name} get patch delete
  /actions/organization-variables get
  /actions/runners get
    /downloads get
    /registration-token post
    /remove-token post
    /{runner_id} get delete
      /labels get post put delete
        /{name} delete
  /check-runs post
    /{check_run_id} get patch
      /annotations get
      /rerequest post
  /check-suites post
    /preferences patch
    /{check_suite_id} get
      /check-runs get
      /rerequest post
  /git
    /blobs post
      /{file_sha} get
    /commits post
      /{commit_sha} get
    /refs post
      /{ref_name} get patch delete
    /matching-refs/{ref_name} get
    /tags post
      /{tag_sha} get
    /trees post
      /{tree_sha} get
  /pages get post put delete
    /builds get post
      /latest get
      /{build_id} get
    /deployments post
    /health get
  /projects get post
  /stats
    /code_frequency get
    /commit_activity get
    /contributors get
    /participation get
    /punch_card get
  /traffic
    /clones get
    /popular/paths get
    /popular/referrers get
    /views get
  /code-scanning
    /alerts get
      /{alert_number} get patch
        /instances get
    /analyses get
      /{analysis_id} get delete
    /sarifs post
      /{sarif_id} get
    /default-setup get patch
  /dependabot
    /alerts get
      /{alert_number} get patch
    /secrets get
      /public-key get
      /{secret_name} get put delete
  /secret-scanning/alerts get
    /{alert_number} get patch
      /locations get
  /dependency-graph
    /compare/{basehead} get
    /sbom get
    /snapshots post
  /notifications get put
  /codespaces get post
    /devcontainers get
    /machines get
    /secrets get
      /{secret_name} get put delete
  /interaction-limits get put delete
  /lfs put delete
/enterprises/{enterprise}
  /actions/permissions get put
    /organizations get put
      /{org_id} put delete
    /selected-actions get put
  /actions/runner-groups get post
    /{runner_group_id} get patch delete
      /organizations get put
        /{org_id} put delete
  /actions/runners get
    /{runner_id} get delete
  /audit-log get
  /settings/billing/actions get
  /settings/billing/packages get
  /code-scanning/alerts get
  /secret-scanning/alerts get
"""

METHOD_ORDER = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
LITERAL = re.compile(r"^[a-z0-9_-]+$")
PARAM = re.compile(r"^\{([a-z_]+)\}$")

# The tag of an operation: the first literal after its scope (`/repos/{owner}/{repo}`, …) if it
# names one of the big groups, else the scope's own tag.
GROUP_TAGS = {
    "actions", "issues", "pulls", "checks", "git", "reactions", "teams", "packages", "projects",
    "code-scanning", "dependabot", "secret-scanning", "codespaces", "migrations", "billing",
    "interactions", "search", "activity", "gists", "apps", "users", "licenses", "markdown", "meta",
}
ALIASES = {
    "check-runs": "checks", "check-suites": "checks", "settings": "billing",
    "interaction-limits": "interactions", "notifications": "activity", "events": "activity",
    "stargazers": "activity", "subscribers": "activity", "subscription": "activity",
    "starred": "activity", "feeds": "activity", "received_events": "activity",
    "app": "apps", "installation": "apps", "installations": "apps", "applications": "apps",
    "rate_limit": "meta", "zen": "meta", "octocat": "meta", "emojis": "meta", "gitignore": "meta",
    "codes_of_conduct": "meta", "repositories": "repos", "organizations": "orgs",
}
SCOPES = [  # prefix → (scope word for ids and summaries, default tag)
    (["repos", "{owner}", "{repo}"], "repo", "repos"),
    (["orgs", "{org}"], "org", "orgs"),
    (["enterprises", "{enterprise}"], "enterprise", "enterprise-admin"),
    (["users", "{username}"], "user", "users"),
    (["user"], "authenticated-user", "users"),
]
ACTIONS = {  # literal last segments that name an action rather than a resource
    "merges", "merge", "merge-upstream", "dispatches", "transfer", "generate", "rerun", "cancel",
    "force-cancel", "approve", "rerun-failed-jobs", "rerequest", "pings", "tests", "attempts",
    "start", "stop", "exports", "restore", "rename", "moves", "enable", "disable", "lock",
    "update-branch", "generate-notes", "access_tokens", "suspended", "events", "dismissals",
    "registration-token", "remove-token", "raw", "replies", "scoped", "snapshots", "star",
}


def parse_tree(text):
    """[(path, [methods])] in the tree's order; a path declared twice has its methods merged."""
    stack, routes = [], {}
    for line in text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 2 == 0, line
        level = indent // 2
        fields = line.split()
        del stack[level:]
        assert len(stack) == level, f"indentation skips a level: {line!r}"
        path = (stack[-1] if stack else "") + fields[0]
        stack.append(path)
        methods = routes.setdefault(path, [])
        for m in fields[1:]:
            assert m in METHOD_ORDER and m not in methods, line
            methods.append(m)
    return [(p, ms) for p, ms in routes.items() if ms]


def check_mountable(paths):
    """Asserts every path is one axum 0.8 (matchit) accepts beside the others."""
    shapes = {}
    for path in paths:
        assert path.startswith("/") and not path.endswith("/"), path
        for seg in path[1:].split("/"):
            assert LITERAL.match(seg) or PARAM.match(seg), f"{path}: segment {seg!r}"
        shape = re.sub(r"\{[a-z_]+\}", "{}", path)
        assert shape not in shapes, f"{path} and {shapes[shape]} differ only in parameter names"
        shapes[shape] = path


def scope_of(segs):
    for prefix, word, tag in SCOPES:
        if segs[: len(prefix)] == prefix:
            return len(prefix), word, tag
    return 0, "", None


def stem(param):
    """`issue_number` → `issue`, `team_slug` → `team`, `ref_name` → `ref`."""
    name = param.strip("{}")
    for suffix in ("_number", "_id", "_slug", "_name", "_sha"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def describe(method, path):
    """(tag, operationId, summary) for an operation, in the style of a generated SDK."""
    segs = path[1:].split("/")
    n, scope, tag = scope_of(segs)
    rest = segs[n:]
    first = rest[0] if rest else (segs[0] if not tag else None)
    if first and not first.startswith("{"):
        t = ALIASES.get(first, first)
        if t in GROUP_TAGS or tag is None:
            tag = t
    tag = tag or segs[0]
    last = segs[-1]
    is_item = last.startswith("{")
    is_action = not is_item and last in ACTIONS
    if method == "get":
        verb = "get" if is_item or not rest or last in ("latest", "config", "status") else "list"
    elif method == "head":
        verb = "check"
    elif method == "post":
        verb = "run" if is_action else "create"
    elif method == "put":
        verb = "set" if not is_item else "add-or-update"
    elif method == "patch":
        verb = "update"
    else:
        verb = "remove" if is_item and len(rest) > 2 else "delete"
    # `milestones/{milestone_number}` reads "milestone"; `members/{username}`, "members username".
    named = [
        i for i in range(len(rest) - 1)
        if rest[i + 1].startswith("{") and rest[i].startswith(stem(rest[i + 1]))
    ]
    nouns = [stem(s) if s.startswith("{") else s for i, s in enumerate(rest) if i not in named]
    nouns = nouns or ([scope] if scope else [stem(s) for s in segs])
    words = [verb] + ([scope] if scope and rest else []) + nouns
    op_id = f"{tag}/" + "-".join(w.replace("_", "-") for w in words)
    summary = " ".join(w.replace("_", " ").replace("-", " ") for w in words)
    return tag, op_id, summary[0].upper() + summary[1:]


def operation(method, path, tag, op_id, summary, schema):
    params = [
        {"$ref": f"#/components/parameters/{seg.strip('{}')}"}
        for seg in path.split("/")
        if seg.startswith("{")
    ]
    listing = method == "get" and summary.startswith("List")
    if listing:
        params += [
            {"$ref": "#/components/parameters/per_page"},
            {"$ref": "#/components/parameters/page"},
        ]
    op = {
        "summary": summary,
        "description": f"{summary}. Requires the `{tag}` scope for private resources.",
        "tags": [tag],
        "operationId": op_id,
    }
    if params:
        op["parameters"] = params
    if method in ("post", "put", "patch") and not summary.startswith(("Run", "Set")):
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}-input"}},
            },
        }
    item = {"$ref": f"#/components/schemas/{schema}"}
    if method == "get":
        body = {"type": "array", "items": item} if listing else item
        ok = {"200": {"description": "Response", "content": {"application/json": {"schema": body}}}}
        if listing:
            ok["200"]["headers"] = {"Link": {"$ref": "#/components/headers/link"}}
    elif method == "head":
        ok = {"200": {"description": "The resource exists"}}
    elif method == "post":
        code = "202" if summary.startswith("Run") else "201"
        ok = {code: {"description": "Response", "content": {"application/json": {"schema": item}}}}
    elif method == "patch":
        ok = {"200": {"description": "Response", "content": {"application/json": {"schema": item}}}}
    else:
        ok = {"204": {"description": "Response"}}
    if "{" in path:
        ok["404"] = {"$ref": "#/components/responses/not_found"}
    if method in ("post", "put", "patch"):
        ok["422"] = {"$ref": "#/components/responses/validation_failed"}
    if method in ("put", "delete") or (method != "head" and path.startswith(("/user/", "/orgs/"))):
        ok["403"] = {"$ref": "#/components/responses/forbidden"}
    op["responses"] = ok
    private = path.startswith(("/user", "/orgs", "/enterprises", "/app"))
    if private and not path.startswith("/users"):
        op["security"] = [{"token": []}]
    return op


PARAM_SCHEMAS = {
    "integer": {"type": "integer"},
    "string": {"type": "string"},
}


def param_component(name):
    integer = name.endswith(("_id", "_number")) and name not in ("client_id", "workflow_id")
    return {
        "name": name,
        "in": "path",
        "description": f"The {name.replace('_', ' ')}.",
        "required": True,
        "schema": dict(PARAM_SCHEMAS["integer" if integer else "string"]),
    }


def main():
    routes = parse_tree(TREE)
    check_mountable([p for p, _ in routes])
    ops = [(p, m) for p, ms in routes for m in ms]
    assert len(ops) >= TOTAL, f"the tree declares {len(ops)} operations, fewer than {TOTAL}"
    rng = random.Random(SEED)
    droppable = [i for i, (_, m) in enumerate(ops) if m != "head"]
    dropped = set(rng.sample(droppable, len(ops) - TOTAL))
    kept = [op for i, op in enumerate(ops) if i not in dropped]

    paths, tags, schemas, params, ids = {}, {}, {}, set(), set()
    for path, method in sorted(kept, key=lambda pm: (pm[0], METHOD_ORDER.index(pm[1]))):
        tag, op_id, summary = describe(method, path)
        assert op_id not in ids, f"duplicate operationId {op_id} ({method} {path})"
        ids.add(op_id)
        tags.setdefault(tag, None)
        segs = [s for s in path[1:].split("/") if not s.startswith("{")]
        schema = re.sub(r"[^a-z0-9]+", "-", (segs[-1] if segs else tag)).strip("-")
        schemas.setdefault(schema, False)
        schemas[schema] |= method in ("post", "put", "patch")
        params.update(s.strip("{}") for s in path.split("/") if s.startswith("{"))
        paths.setdefault(path, {})[method] = operation(method, path, tag, op_id, summary, schema)

    components_schemas = {
        "resource": {
            "type": "object",
            "required": ["id", "url"],
            "properties": {
                "id": {"type": "integer", "format": "int64", "example": 42},
                "node_id": {"type": "string"},
                "url": {"type": "string", "format": "uri"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time", "nullable": True},
            },
        },
    }
    for name in sorted(schemas):
        components_schemas[name] = {
            "title": name.replace("-", " ").capitalize(),
            "allOf": [{"$ref": "#/components/schemas/resource"}],
        }
        if schemas[name]:
            components_schemas[f"{name}-input"] = {"type": "object", "additionalProperties": True}
    components_schemas["basic-error"] = {
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "documentation_url": {"type": "string"},
            "status": {"type": "string"},
        },
    }
    components_schemas["validation-error"] = {
        "type": "object",
        "required": ["message", "documentation_url"],
        "properties": {
            "message": {"type": "string"},
            "documentation_url": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        },
    }
    error = lambda description, schema: {  # noqa: E731
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    parameters = {name: param_component(name) for name in sorted(params)}
    parameters["per_page"] = {
        "name": "per_page",
        "in": "query",
        "description": "The number of results per page (max 100).",
        "schema": {"type": "integer", "default": 30, "maximum": 100},
    }
    parameters["page"] = {
        "name": "page",
        "in": "query",
        "description": "Page number of the results to fetch.",
        "schema": {"type": "integer", "default": 1},
    }

    doc = {
        "openapi": "3.0.3",
        "info": {
            "title": "Forge REST API",
            "description": "The REST API of a code-hosting service: repositories, issues, "
            "pull requests, organizations, CI runs and the rest. "
            "Generated by scripts/gen-openapi.py for tests.",
            "termsOfService": "https://docs.example.test/terms",
            "contact": {"name": "Forge API support", "url": "https://support.example.test"},
            "license": {"name": "MIT", "url": "https://spdx.org/licenses/MIT"},
            "version": "1.1.4",
            "x-api-generation": 7,
        },
        "servers": [{"url": "https://api.example.test"}],
        "externalDocs": {
            "description": "Forge REST API docs",
            "url": "https://docs.example.test/rest",
        },
        "tags": [
            {"name": t, "description": f"{t.replace('-', ' ').capitalize()} endpoints."}
            for t in sorted(tags)
        ],
        "security": [{}, {"token": []}],
        "paths": paths,
        "components": {
            "schemas": components_schemas,
            "parameters": parameters,
            "responses": {
                "not_found": error("Resource not found", "basic-error"),
                "forbidden": error("Forbidden", "basic-error"),
                "validation_failed": error(
                    "Validation failed, or the endpoint has been spammed.", "validation-error"
                ),
            },
            "headers": {
                "link": {
                    "example": '<https://api.example.test/repositories?page=2>; rel="next"',
                    "schema": {"type": "string"},
                },
            },
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    }

    count = sum(len(item) for item in doc["paths"].values())
    assert count == TOTAL, count
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2) + "\n")
    print(count)


if __name__ == "__main__":
    main()
