"""Prints the HTTP API routes of template.yaml as JSON: [{"binary", "method", "path"}].

Read with cfn-lint's own decoder, which understands !Ref, !If and the other short
forms. The Rust test tests/api/template.rs compares these with the routes the functions
serve. A route without Path is the $default route.
"""
import json
import sys

from cfnlint.decode import decode

template, matches = decode(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
if matches:
    sys.exit("template.yaml does not parse: " + "; ".join(str(m) for m in matches))

routes = []
for name, resource in template["Resources"].items():
    if resource.get("Type") != "AWS::Serverless::Function":
        continue
    binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
    for event in resource.get("Properties", {}).get("Events", {}).values():
        if event.get("Type") == "HttpApi":
            props = event.get("Properties", {})
            routes.append({"resource": name, "binary": binary, "method": props.get("Method", "ANY"), "path": props.get("Path", "$default")})
json.dump(routes, sys.stdout, indent=1)
