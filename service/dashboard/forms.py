"""The job form, derived from the API's own schema so the two never disagree.

``job_form()`` walks the JSON schema of :class:`~service.schemas.JobCreate` and returns sections of
fields: the top-level fields (task, objectives, ...) form the first section, "Search", and each
nested model (hardware, budget, ...) one more.
Each field carries its dotted path in the request body, which is also how the API's validation
errors name it, so the page can show an error next to the field it concerns. Two schema extensions
shape the form: ``x-group`` gathers fields in a collapsible group of their section (the chip's
overrides), ``x-empty`` says what an empty optional field means (default: no limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from service.schemas import JobCreate

Kind = Literal["task", "select", "number", "checkbox", "tristate", "choices", "text"]


@dataclass(frozen=True)
class FormField:
    path: str  # dotted path in the request body, e.g. "hardware.tile_rows"
    label: str
    kind: Kind
    default: Any = None
    options: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    optional: bool = False  # empty means null
    empty: str = ""  # what null means, for an optional field: "no limit", "preset's value"
    group: str = ""  # a collapsible group within the section, e.g. "Chip overrides"
    help: str = ""


@dataclass(frozen=True)
class FormSection:
    name: str  # the body key of a nested model, or "" for top-level fields
    title: str
    help: str
    fields: list[FormField] = field(default_factory=list)

    def ungrouped(self) -> list[FormField]:
        return [f for f in self.fields if not f.group]

    def groups(self) -> dict[str, list[FormField]]:
        """The named groups' fields, in schema order."""
        groups: dict[str, list[FormField]] = {}
        for f in self.fields:
            if f.group:
                groups.setdefault(f.group, []).append(f)
        return groups


def job_form(model: type[BaseModel] = JobCreate) -> list[FormSection]:
    """The form's sections: the top-level fields, then one per nested model, in schema order."""
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})
    defaults = model().model_dump(mode="json")  # default factories are not in the schema
    top = FormSection("", "Search", "")
    sections: list[FormSection] = []
    for name, prop in schema["properties"].items():
        ref = _reference(prop)
        if ref is None:
            top.fields.append(_field(name, name, prop, definitions, defaults[name]))
            continue
        nested = definitions[ref]
        section = FormSection(name, nested.get("title", name), nested.get("description", ""))
        for child, child_prop in nested["properties"].items():
            field_ = _field(
                f"{name}.{child}", child, child_prop, definitions, defaults[name][child]
            )
            section.fields.append(field_)
        sections.append(section)
    return [top, *sections]


def _reference(prop: dict) -> str | None:
    ref = prop.get("$ref") or next((p["$ref"] for p in prop.get("allOf", []) if "$ref" in p), None)
    return ref.rsplit("/", 1)[-1] if ref else None


def _field(path: str, name: str, prop: dict, definitions: dict, default: Any) -> FormField:
    variants = prop.get("anyOf", [prop])
    optional = any(v.get("type") == "null" for v in variants)
    spec = next(v for v in variants if v.get("type") != "null")
    if "$ref" in spec:  # an enum defined once and referenced
        spec = definitions[spec["$ref"].rsplit("/", 1)[-1]]
    label = prop.get("title") or name.replace("_", " ").capitalize()
    common = {
        "path": path,
        "label": label,
        "default": default,
        "optional": optional,
        "empty": prop.get("x-empty", "no limit") if optional else "",
        "group": prop.get("x-group", ""),
        "help": prop.get("description", ""),
    }
    if path == "task":
        return FormField(kind="task", **common)
    if "enum" in spec:
        return FormField(kind="select", options=tuple(spec["enum"]), **common)
    if spec.get("type") == "array" and "enum" in spec.get("items", {}):
        return FormField(kind="choices", options=tuple(spec["items"]["enum"]), **common)
    if spec.get("type") == "array" and "$ref" in spec.get("items", {}):
        items = definitions[spec["items"]["$ref"].rsplit("/", 1)[-1]]
        return FormField(kind="choices", options=tuple(items["enum"]), **common)
    if spec.get("type") == "boolean":
        return FormField(kind="tristate" if optional else "checkbox", **common)
    if spec.get("type") in ("integer", "number"):
        return FormField(
            kind="number",
            minimum=spec.get("minimum", _open_bound(spec.get("exclusiveMinimum"), +1, spec)),
            maximum=spec.get("maximum", _open_bound(spec.get("exclusiveMaximum"), -1, spec)),
            integer=spec["type"] == "integer",
            **common,
        )
    return FormField(kind="text", **common)


def _open_bound(bound: float | None, direction: int, spec: dict) -> float | None:
    """An exclusive bound as the nearest allowed integer (HTML inputs only know inclusive ones)."""
    if bound is None or spec.get("type") != "integer":
        return None
    return bound + direction
