"""Print the README's configuration reference from the option models themselves.

    python scripts/options_reference.py            # print the markdown
    python scripts/options_reference.py --write    # replace the README section

tests/unit/test_docs.py fails when the README section is out of date, so the
reference can never drift from the code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from unifydb.catalog import BUILTIN  # noqa: E402
from unifydb.options import OptionField, SQLOptions, describe  # noqa: E402
from unifydb.registry import load_type  # noqa: E402
from unifydb.settings import load_files, placeholder_variables  # noqa: E402

START = "<!-- options-reference:start -->"
END = "<!-- options-reference:end -->"
COMMON = ("type", "timeout")
ENGINE_KEYS = tuple(name for name in SQLOptions.fields() if name not in ("type", "timeout", "url"))


def default_text(field: OptionField) -> str:
    if field.required:
        return "required"
    value: Any = field.default
    if value is None or value in ({}, []):
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"`{value}`"


def table(type_name: str, shipped: dict[str, Any]) -> str:
    cls = load_type(type_name)
    model = cls.options_model
    entry = shipped.get(type_name, {})
    rows = [
        "| key | accepts | default | env var (shipped settings) | notes |",
        "|---|---|---|---|---|",
    ]
    for name, field in model.fields().items():
        if name in COMMON or (issubclass(model, SQLOptions) and name in (*ENGINE_KEYS, "url")):
            continue
        variables = ", ".join(f"`{var}`" for var in placeholder_variables(entry.get(name, "")))
        notes = field.description or ""
        if name in model.secret_fields:
            notes = (
                notes + " Secret: never printed; `" + name + "_file` reads it from a file."
            ).strip()
        accepts = describe(field.annotation, field.constraints).replace("|", "\\|")
        rows.append(
            f"| `{name}` | {accepts} | {default_text(field)} | {variables or '-'} | {notes} |"
        )
    info = BUILTIN[type_name]
    header = f"#### `{type_name}`\n\n{info.summary}.\n"
    header += f"Extra: `pip install 'unifydb[{info.extra or type_name}]'`"
    if info.system_packages:
        header += f" (builds against the system packages {', '.join(info.system_packages)})"
    header += ".\n"
    if info.aliases:
        header += "Aliases: " + ", ".join(f"`{alias}`" for alias in info.aliases) + ".\n"
    return header + "\n" + "\n".join(rows) + "\n"


def engine_table() -> str:
    rows = ["| key | accepts | default | notes |", "|---|---|---|---|"]
    for name in ("type", "timeout", "url", *ENGINE_KEYS):
        field = SQLOptions.fields()[name]
        accepts = describe(field.annotation, field.constraints).replace("|", "\\|")
        rows.append(f"| `{name}` | {accepts} | {default_text(field)} | {field.description or ''} |")
    return "\n".join(rows) + "\n"


def reference() -> str:
    shipped = load_files([REPO / "settings.toml"], apply_env=False)
    parts = [
        "Keys every SQL type accepts (engine and pool options), besides its own below:\n",
        engine_table(),
    ]
    parts += [table(type_name, shipped) for type_name in BUILTIN]
    return "\n".join(parts)


def main() -> int:
    text = reference()
    if "--write" in sys.argv:
        readme = REPO / "README.md"
        content = readme.read_text()
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
        readme.write_text(pattern.sub(lambda _: f"{START}\n{text}{END}", content))
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
