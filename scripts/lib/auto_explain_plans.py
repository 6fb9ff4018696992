"""Prints the plan auto_explain logged (auto_explain.log_format = json) in a PostgreSQL
log for the first statement whose text holds MARK: one line per plan node - its type,
the relation or index it reads, rows and loops, buffers hit and read - indented as the
tree. The same scan of each audit partition is one line: "29 x Index Scan ...", with
their rows and buffers summed.

    python3 auto_explain_plans.py SERVER_LOG MARK < (reads the log from its path)
"""
import json
import re
import sys

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def plans(lines):
    text = None
    for line in lines:
        if STAMP.match(line):
            if text is not None:
                yield "".join(text)
                text = None
            if "plan:" in line:
                text = [line.split("plan:", 1)[1]]
        elif text is not None:
            text.append(line)
    if text is not None:
        yield "".join(text)


PARTITION = re.compile(r"audit_events_(\d{4}_\d{2}|default)")


def describe(node):
    what = node["Node Type"]
    for key in ("Relation Name", "Index Name", "CTE Name", "Subplan Name"):
        if key in node:
            what += f" {key.split()[0].lower()}={node[key]}"
    if node.get("Parent Relationship") == "InitPlan":
        what = "InitPlan: " + what
    for key in ("Index Cond", "Filter", "Recheck Cond", "Sort Key", "Hash Cond"):
        if key in node:
            value = node[key] if isinstance(node[key], str) else ", ".join(node[key])
            what += f" {key}: {value[:110]}"
    return PARTITION.sub("audit_events_*", what)


def counts(node):
    return (node.get("Actual Rows", 0) * node.get("Actual Loops", 1), node.get("Shared Hit Blocks", 0),
            node.get("Shared Read Blocks", 0))


def show(nodes, depth, out):
    """Nodes side by side; leaves that read partitions the same way are one line."""
    i = 0
    while i < len(nodes):
        node, same = nodes[i], 1
        if not node.get("Plans"):
            while (i + same < len(nodes) and not nodes[i + same].get("Plans")
                   and describe(nodes[i + same]) == describe(node)):
                same += 1
        group = nodes[i:i + same]
        rows, hit, read = (sum(c) for c in zip(*map(counts, group)))
        prefix = f"{same} x " if same > 1 else ""
        loops = "" if same > 1 else f" loops={node.get('Actual Loops')}"
        out.append(f"{'  ' * depth}{prefix}{describe(node)} (rows={rows}{loops}; hit={hit} read={read})")
        if same == 1:
            show(node.get("Plans", []), depth + 1, out)
        i += same


def main():
    path, mark = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8", errors="replace") as log:
        for text in plans(log):
            try:
                plan = json.loads(text)
            except json.JSONDecodeError:
                continue
            if mark not in plan.get("Query Text", ""):
                continue
            out = []
            show([plan["Plan"]], 1, out)
            print("\n".join(out))
            return 0
    return 1


sys.exit(main())
