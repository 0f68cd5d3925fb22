"""The OpenAPI schema of the REST API and its Swagger UI page."""

import re
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

# src and href attributes of the Swagger UI page.
_LINK = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def test_schema_validates_without_warnings(tmp_path):
    """drf-spectacular's own check: the schema is valid OpenAPI 3 and every view was understood."""
    path = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))

    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/runs/{uuid}/start/" in schema["paths"]
    assert "/api/v1/prompt-sets/{uuid}/import/" in schema["paths"]


def test_schema_served_as_json():
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "humeval API"
    paths = set(schema["paths"])
    assert {"/api/v1/models/", "/api/v1/runs/", "/api/v1/runs/import-responses/"} <= paths
    # Objects are addressed by UUID, never by integer primary key.
    assert not [path for path in paths if "{id}" in path or "{pk}" in path]
    security = schema["components"]["securitySchemes"]
    assert {"tokenAuth", "cookieAuth"} <= set(security)


def test_schema_lists_paginated_responses():
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    operation = schema["paths"]["/api/v1/runs/{uuid}/responses/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/PaginatedResponseList"
    assert {"page", "page_size", "flag"} <= {parameter["name"] for parameter in operation["parameters"]}


def test_docs_page_uses_local_files_only():
    """Swagger UI comes from the drf-spectacular-sidecar package: every link is local and loads."""
    client = Client()
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    links = _LINK.findall(html)
    assert any("swagger-ui-bundle.js" in link for link in links), links
    assert not re.search(r"https?://", html)
    for link in links:
        parts = urlsplit(link)
        assert not parts.scheme, link
        assert not parts.netloc, link
        assert link.startswith("/"), link
        assert client.get(link).status_code == 200, link


def test_docs_script_has_no_outside_url():
    """The page's start-up script points Swagger UI at the local schema and turns the online validator off."""
    script = Client().get("/api/docs/", {"script": ""}).content.decode()

    assert "/api/schema/" in script
    assert '"validatorUrl": null' in script
    assert not re.search(r"https?://", script)


def test_schema_documents_error_body():
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    error_ref = {"$ref": "#/components/schemas/Error"}

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code in ("400", "401", "403", "404"):
                content = operation["responses"][code]["content"]["application/json"]
                assert content["schema"] == error_ref, (method, path, code)
    start = schema["paths"]["/api/v1/runs/{uuid}/start/"]["post"]["responses"]
    assert start["409"]["content"]["application/json"]["schema"] == error_ref
