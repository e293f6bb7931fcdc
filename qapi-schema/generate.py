#!/usr/bin/env python3
"""Turn the QAPI-dialect command schema into C and documentation.

Outputs (all in the build tree, never committed):
  qa-schema.h    C structs and enums of every schema type, type descriptors, the argument struct
                 and handler prototype of every command, and the command table
  qa-schema.c    descriptors, enum tables, marshallers (JSON args -> typed args -> handler ->
                 JSON reply) and the command table
  protocol.md    the protocol reference

The C side is descriptor driven: each type gets a QaTypeDesc, and one runtime (agent/protocol/
schema-runtime.c) validates, converts, serialises and frees any described value. Generated code
stays small and the runtime is tested and fuzzed once for every type.
"""

import argparse
import re
import sys
from collections import OrderedDict

BUILTINS = {
    # QAPI name: (C type, descriptor, human description for error messages)
    "str": ("gchar *", "qa_type_str", "a string"),
    "int": ("gint64", "qa_type_int", "an integer"),
    "uint64": ("guint64", "qa_type_uint64", "a non-negative integer"),
    "bool": ("gboolean", "qa_type_bool", "a boolean"),
    "number": ("gdouble", "qa_type_number", "a number"),
}

KNOWN_COMMAND_KEYS = {"command", "data", "returns", "worker", "blocking", "allow-oob",
                      "features", "success-response", "if"}
KNOWN_STRUCT_KEYS = {"struct", "data", "features", "if"}
KNOWN_ENUM_KEYS = {"enum", "data", "features", "if"}
KNOWN_ALTERNATE_KEYS = {"alternate", "data", "features", "if"}
KNOWN_UNION_KEYS = {"union", "base", "discriminator", "data", "features", "if"}


class SchemaError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Parsing: QAPI's dialect is JSON with single-quoted strings and '#' comments; '##' blocks are
# documentation attached to the next definition.


class Parser:
    def __init__(self, text, fname):
        self.text = text
        self.fname = fname
        self.pos = 0
        self.line = 1

    def error(self, msg):
        raise SchemaError(f"{self.fname}:{self.line}: {msg}")

    def skip_ws(self, docs):
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\n":
                self.line += 1
                self.pos += 1
            elif c in " \t\r":
                self.pos += 1
            elif c == "#":
                if self.text.startswith("##", self.pos) and self.at_line_start():
                    docs.append(self.read_doc())
                else:
                    end = self.text.find("\n", self.pos)
                    self.pos = len(self.text) if end < 0 else end
            else:
                break

    def at_line_start(self):
        return self.pos == 0 or self.text[self.pos - 1] == "\n"

    def read_doc(self):
        lines = []
        self.pos = self.text.find("\n", self.pos) + 1
        self.line += 1
        while True:
            end = self.text.find("\n", self.pos)
            if end < 0:
                self.error("unterminated documentation block")
            line = self.text[self.pos:end]
            self.pos = end + 1
            self.line += 1
            if line.startswith("##"):
                return lines
            if not line.startswith("#"):
                self.error("documentation lines must start with '#'")
            lines.append(line[2:] if line.startswith("# ") else line[1:])

    def value(self):
        docs = []
        self.skip_ws(docs)
        c = self.text[self.pos]
        if c == "{":
            self.pos += 1
            obj = OrderedDict()
            self.skip_ws(docs)
            if self.text[self.pos] == "}":
                self.pos += 1
                return obj
            while True:
                self.skip_ws(docs)
                key = self.value()
                if not isinstance(key, str):
                    self.error("object keys must be strings")
                if key in obj:
                    self.error(f"duplicate key '{key}'")
                self.skip_ws(docs)
                self.expect(":")
                obj[key] = self.value()
                self.skip_ws(docs)
                if self.text[self.pos] == ",":
                    self.pos += 1
                    continue
                self.expect("}")
                return obj
        if c == "[":
            self.pos += 1
            arr = []
            self.skip_ws(docs)
            if self.text[self.pos] == "]":
                self.pos += 1
                return arr
            while True:
                arr.append(self.value())
                self.skip_ws(docs)
                if self.text[self.pos] == ",":
                    self.pos += 1
                    continue
                self.expect("]")
                return arr
        if c == "'":
            end = self.text.find("'", self.pos + 1)
            s = self.text[self.pos + 1:end]
            self.pos = end + 1
            return s
        for word, val in (("true", True), ("false", False)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return val
        self.error(f"unexpected character {c!r}")

    def expect(self, ch):
        if self.text[self.pos] != ch:
            self.error(f"expected '{ch}'")
        self.pos += 1

    def definitions(self):
        defs = []
        while True:
            docs = []
            self.skip_ws(docs)
            if self.pos >= len(self.text):
                return defs
            line = self.line
            expr = self.value()
            if not isinstance(expr, dict):
                self.error("top-level values must be objects")
            doc = None
            # the definition's documentation is the last '##' block before it, naming it
            for d in reversed(docs):
                if d and d[0].startswith("@"):
                    doc = d
                    break
            defs.append((expr, doc, line))


def parse_doc(lines, name):
    """Split a doc block into (body, {member: text}, returns)."""
    if not lines:
        return "", {}, ""
    head = lines[0].strip()
    if head != f"@{name}:":
        raise SchemaError(f"documentation of '{name}' starts with '{head}'")
    body, members, returns = [], OrderedDict(), []
    current = body
    for line in lines[1:]:
        m = re.match(r"^@([\w-]+):\s*(.*)$", line)
        if m:
            members[m.group(1)] = [m.group(2)]
            current = members[m.group(1)]
            continue
        if line.startswith("Returns:"):
            returns = [line[len("Returns:"):].strip()]
            current = returns
            continue
        current.append(line.strip() if current is not body else line)
    join = lambda ls: " ".join(s for s in ls if s).strip()
    return ("\n".join(body).strip(), {k: join(v) for k, v in members.items()}, join(returns))


# ---------------------------------------------------------------------------------------------
# Model


# words whose capitals are not where words start
WORDS = {"NVMe": "Nvme"}


def camel_to_snake(name):
    for word, plain in WORDS.items():
        name = name.replace(word, plain)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


def c_ident(name):
    return name.replace("-", "_")


def command_camel(name):
    return "".join(p.capitalize() for p in name.split("-"))


class Member:
    def __init__(self, owner, key, spec, docs):
        self.optional = key.startswith("*")
        self.name = key.lstrip("*")
        self.features = []
        if isinstance(spec, dict):
            self.features = spec.get("features", [])
            spec = spec["type"]
        self.is_list = isinstance(spec, list)
        self.type = spec[0] if self.is_list else spec
        self.doc = docs.get(self.name, "")
        if not self.doc:
            raise SchemaError(f"member '{self.name}' of '{owner}' is not documented")
        # written to replies as they are, without JSON escaping (schema-runtime.c)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", self.name):
            raise SchemaError(f"member '{self.name}' of '{owner}': names are letters, digits, "
                              "'-' and '_'")
        self.c_name = c_ident(self.name)

    @property
    def is_extension(self):
        return "extension" in self.features


class Schema:
    def __init__(self, defs, platform):
        self.enums = OrderedDict()
        self.structs = OrderedDict()
        self.commands = OrderedDict()
        self.alternates = OrderedDict()
        self.unions = OrderedDict()
        self.other_platform_commands = []  # known, but compiled out on this platform
        self.sections = []  # (title, [names]) in file order, for the docs
        for expr, doc, line in defs:
            cond = expr.get("if")
            if cond is not None and cond not in ("linux", "windows"):
                raise SchemaError(f"line {line}: 'if' is 'linux' or 'windows', not {cond!r}")
            if cond is not None and cond != platform:
                if "command" in expr:
                    self.other_platform_commands.append(expr["command"])
                continue
            if "command" in expr:
                self.add_command(expr, doc)
            elif "struct" in expr:
                self.add_struct(expr, doc)
            elif "enum" in expr:
                self.add_enum(expr, doc)
            elif "alternate" in expr:
                self.add_alternate(expr, doc)
            elif "union" in expr:
                self.add_union(expr, doc)
            else:
                raise SchemaError(f"line {line}: unknown definition {list(expr)}")
        self.check()

    def add_enum(self, expr, doc):
        unknown = set(expr) - KNOWN_ENUM_KEYS
        if unknown:
            raise SchemaError(f"enum '{expr['enum']}': unknown keys {sorted(unknown)}")
        name = expr["enum"]
        body, members, _ = parse_doc(doc, name)
        self.enums[name] = dict(name=name, values=expr["data"], doc=body, member_docs=members,
                                features=expr.get("features", []))

    def add_struct(self, expr, doc):
        unknown = set(expr) - KNOWN_STRUCT_KEYS
        if unknown:
            raise SchemaError(f"struct '{expr['struct']}': unknown keys {sorted(unknown)}")
        name = expr["struct"]
        body, member_docs, _ = parse_doc(doc, name)
        members = [Member(name, k, v, member_docs) for k, v in expr["data"].items()]
        self.structs[name] = dict(name=name, members=members, doc=body,
                                  features=expr.get("features", []))

    def add_alternate(self, expr, doc):
        unknown = set(expr) - KNOWN_ALTERNATE_KEYS
        if unknown:
            raise SchemaError(f"alternate '{expr['alternate']}': unknown keys {sorted(unknown)}")
        name = expr["alternate"]
        body, member_docs, _ = parse_doc(doc, name)
        branches = [Member(name, k, v, member_docs) for k, v in expr["data"].items()]
        for b in branches:
            if b.optional or b.is_list:
                raise SchemaError(f"alternate '{name}': branch '{b.name}' must be a plain type")
        self.alternates[name] = dict(name=name, members=branches, doc=body,
                                     features=expr.get("features", []))

    def add_union(self, expr, doc):
        unknown = set(expr) - KNOWN_UNION_KEYS
        if unknown:
            raise SchemaError(f"union '{expr['union']}': unknown keys {sorted(unknown)}")
        name = expr["union"]
        body, member_docs, _ = parse_doc(doc, name)
        base = [Member(name, k, v, member_docs) for k, v in expr["base"].items()]
        disc = expr["discriminator"]
        if not base or base[0].name != disc:
            raise SchemaError(f"union '{name}': the discriminator must be the first base member")
        variants = OrderedDict(expr["data"])
        self.unions[name] = dict(name=name, members=base, variants=variants, doc=body,
                                 discriminator=disc, features=expr.get("features", []))

    def add_command(self, expr, doc):
        unknown = set(expr) - KNOWN_COMMAND_KEYS
        if unknown:
            raise SchemaError(f"command '{expr['command']}': unknown keys {sorted(unknown)}")
        name = expr["command"]
        body, member_docs, returns_doc = parse_doc(doc, name)
        members = [Member(name, k, v, member_docs) for k, v in expr.get("data", {}).items()]
        returns = expr.get("returns")
        self.commands[name] = dict(
            name=name, members=members, doc=body, returns_doc=returns_doc,
            returns_list=isinstance(returns, list),
            returns=(returns[0] if isinstance(returns, list) else returns),
            worker=expr.get("worker", False),
            blocking=expr.get("blocking", False),
            allow_oob=expr.get("allow-oob", False),
            success_response=expr.get("success-response", True),
            features=expr.get("features", []))

    def known_type(self, t):
        return (t in BUILTINS or t in self.enums or t in self.structs or t in self.alternates
                or t in self.unions)

    def is_object(self, t):
        """a type whose C value is a pointer to a generated struct"""
        return t in self.structs or t in self.alternates or t in self.unions

    def check(self):
        for s in list(self.structs.values()) + list(self.commands.values()):
            for m in s["members"]:
                if not self.known_type(m.type):
                    raise SchemaError(f"'{s['name']}' member '{m.name}': unknown type '{m.type}'")
                if m.is_list and m.type not in ("str",) and not self.is_object(m.type):
                    raise SchemaError(f"'{s['name']}' member '{m.name}': lists of '{m.type}' "
                                      "are not supported by the runtime")
        for c in self.commands.values():
            if c["returns"] and not self.known_type(c["returns"]):
                raise SchemaError(f"command '{c['name']}': unknown return type")
            if c["worker"] and c["blocking"]:
                raise SchemaError(f"command '{c['name']}': 'worker' and 'blocking' exclude "
                                  "each other")
            for m in c["members"]:
                if m.type in self.unions:
                    raise SchemaError(f"command '{c['name']}': unions are for replies only")
        for u in self.unions.values():
            disc = u["members"][0]
            if disc.type not in self.enums:
                raise SchemaError(f"union '{u['name']}': the discriminator must be an enum")
            for value, variant in u["variants"].items():
                if value not in self.enums[disc.type]["values"]:
                    raise SchemaError(f"union '{u['name']}': '{value}' is not a value of "
                                      f"'{disc.type}'")
                if variant not in self.structs:
                    raise SchemaError(f"union '{u['name']}': variant '{variant}' is not a struct")
        for a in self.alternates.values():
            for b in a["members"]:
                if not self.known_type(b.type):
                    raise SchemaError(f"alternate '{a['name']}': unknown type '{b.type}'")


# ---------------------------------------------------------------------------------------------
# C generation


def object_types(schema):
    """(name, kind, members, union variants) of every type whose C value is a struct"""
    out = [(n, "struct", st["members"], []) for n, st in schema.structs.items()]
    out += [(n, "alternate", a["members"], []) for n, a in schema.alternates.items()]
    out += [(n, "union", u["members"], union_variants(schema, u))
            for n, u in schema.unions.items()]
    return out


def type_desc(schema, t):
    if t in BUILTINS:
        return BUILTINS[t][1]
    return "qa_type_" + camel_to_snake(t)


def c_type(schema, t, is_list=False):
    if is_list:
        return "GPtrArray *"
    if t in BUILTINS:
        ct = BUILTINS[t][0]
        return ct if ct.endswith("*") else ct + " "
    if t in schema.enums:
        return "Qa" + t + " "
    return "Qa" + t + " *"


def is_pointer(schema, m):
    return m.is_list or m.type == "str" or schema.is_object(m.type)


def emit_struct_fields(schema, members, out):
    for m in members:
        if m.optional and not is_pointer(schema, m):
            out.append(f"\tgboolean has_{m.c_name};")
        ct = c_type(schema, m.type, m.is_list)
        note = ""
        if m.is_list:
            elem = "gchar *" if m.type == "str" else f"Qa{m.type} *"
            note = f" /* of {elem.strip()}, owning */"
        out.append(f"\t{ct}{m.c_name};{note}")


def member_table(schema, cname, struct_type, members, out, variants=()):
    """@variants: (enum index, wire value, variant struct) of a flat union"""
    out.append(f"static const QaMemberDesc {cname}_members[] = {{")
    for m in members:
        desc = type_desc(schema, m.type)
        if m.is_list:
            desc = f"{type_desc(schema, m.type)}_list"
        has = (f"offsetof({struct_type}, has_{m.c_name})"
               if m.optional and not is_pointer(schema, m) else "-1")
        out.append(f'\t{{ "{m.name}", &{desc}, offsetof({struct_type}, {m.c_name}), '
                   f'{has}, {str(m.optional).upper()}, {str(m.is_extension).upper()}, -1 }},')
    for index, value, variant in variants:
        out.append(f'\t{{ "{value}", &{type_desc(schema, variant)}, '
                   f'offsetof({struct_type}, u_{c_ident(value)}), -1, TRUE, FALSE, {index} }},')
    out.append("\t{ NULL, NULL, 0, -1, FALSE, FALSE, -1 },")
    out.append("};")


def union_variants(schema, u):
    disc = u["members"][0]
    values = schema.enums[disc.type]["values"]
    return [(values.index(v), v, t) for v, t in u["variants"].items()]


def gen_header(schema):
    h = ["/* generated by qapi-schema/generate.py from quiesce-agent.json: do not edit */",
         "#pragma once", "", "#include \"schema-runtime.h\"", "",
         "typedef struct _QaAgent QaAgent;", ""]
    for e in schema.enums.values():
        up = camel_to_snake(e["name"]).upper()
        h.append("typedef enum {")
        for v in e["values"]:
            h.append(f"\tQA_{up}_{c_ident(v).upper()},")
        h.append(f"\tQA_{up}__MAX,")
        h.append(f"}} Qa{e['name']};")
        h.append(f"extern const QaTypeDesc {type_desc(schema, e['name'])};")
        h.append(f"const gchar *\nqa_{camel_to_snake(e['name'])}_to_string(Qa{e['name']} value);")
        h.append("")
    objects = object_types(schema)
    for name, _kind, _members, _variants in objects:
        h.append(f"typedef struct _Qa{name} Qa{name};")
    h.append("")
    for name, kind, members, variants in objects:
        snake = camel_to_snake(name)
        if kind == "alternate":
            up = snake.upper()
            h.append("typedef enum {")
            for m in members:
                h.append(f"\tQA_{up}_KIND_{m.c_name.upper()},")
            h.append(f"}} Qa{name}Kind;")
        h.append(f"struct _Qa{name} {{")
        if kind == "alternate":
            h.append(f"\tQa{name}Kind type; /* which branch holds the value */")
            for m in members:
                h.append(f"\t{c_type(schema, m.type)}{m.c_name};")
        else:
            emit_struct_fields(schema, members, h)
        for _index, value, variant in variants:
            h.append(f"\tQa{variant} *u_{c_ident(value)}; /* when {members[0].c_name} is "
                     f"'{value}' */")
        h.append("};")
        h.append(f"extern const QaTypeDesc qa_type_{snake};")
        h.append(f"extern const QaTypeDesc qa_type_{snake}_list;")
        h.append(f"Qa{name} *\nqa_{snake}_new(void);")
        h.append(f"void\nqa_{snake}_free(Qa{name} *value);")
        h.append(f"/* a GPtrArray that owns its Qa{name} elements */")
        h.append(f"GPtrArray *\nqa_{snake}_list_new(void);")
        h.append(f"G_DEFINE_AUTOPTR_CLEANUP_FUNC(Qa{name}, qa_{snake}_free)")
        h.append("")
    for c in schema.commands.values():
        snake = c_ident(c["name"])
        camel = command_camel(c["name"])
        if c["members"]:
            h.append(f"typedef struct {{")
            emit_struct_fields(schema, c["members"], h)
            h.append(f"}} Qa{camel}Args;")
            h.append(f"void\nqa_{snake}_args_free(Qa{camel}Args *args);")
            h.append(f"G_DEFINE_AUTOPTR_CLEANUP_FUNC(Qa{camel}Args, qa_{snake}_args_free)")
        h.append(f"/* handler of '{c['name']}', implemented in agent/commands/ */")
        h.append(f"gboolean\nqa_cmd_{snake}({handler_params(schema, c)});")
        h.append("")
    h.append("extern const QaCommandDef qa_schema_commands[];")
    h.append("extern const guint qa_schema_n_commands;")
    h.append("/* commands of the schema that exist on another platform only (NULL-terminated) */")
    h.append("extern const gchar *const qa_schema_other_platform_commands[];")
    h.append("")
    return "\n".join(h) + "\n"


def ret_out_type(schema, c):
    r = c["returns"]
    if r is None:
        return None
    if c["returns_list"]:
        return "GPtrArray **"
    if r in BUILTINS:
        return BUILTINS[r][0] + " *" if r != "str" else "gchar **"
    if r in schema.enums:
        return f"Qa{r} *"
    return f"Qa{r} **"


def handler_params(schema, c):
    params = ["QaAgent *agent"]
    if c["members"]:
        params.append(f"const Qa{command_camel(c['name'])}Args *args")
    rt = ret_out_type(schema, c)
    if rt:
        params.append(f"{rt}out_ret")
    params.append("GError **error")
    return ", ".join(params)


def gen_source(schema):
    c = ["/* generated by qapi-schema/generate.py from quiesce-agent.json: do not edit */",
         "#include <stddef.h>", "", "#include \"qa-schema.h\"", ""]
    for e in schema.enums.values():
        snake = camel_to_snake(e["name"])
        vals = ", ".join(f'"{v}"' for v in e["values"])
        c.append(f"static const gchar *const qa_{snake}_values[] = {{ {vals}, NULL }};")
        c.append(f'const QaTypeDesc qa_type_{snake} = {{ .kind = QA_KIND_ENUM, '
                 f'.name = "{e["name"]}", .size = sizeof(Qa{e["name"]}), '
                 f'.enum_values = qa_{snake}_values }};')
        c.append(f"const gchar *\nqa_{snake}_to_string(Qa{e['name']} value)\n{{")
        c.append(f"\tg_return_val_if_fail((guint)value < G_N_ELEMENTS(qa_{snake}_values) - 1, "
                 "NULL);")
        c.append(f"\treturn qa_{snake}_values[value];\n}}\n")
    for name, kind, members, variants in object_types(schema):
        snake = camel_to_snake(name)
        member_table(schema, f"qa_type_{snake}", f"Qa{name}", members, c, variants)
        c.append(f"GPtrArray *\nqa_{snake}_list_new(void)\n{{")
        c.append(f"\treturn g_ptr_array_new_with_free_func((GDestroyNotify)qa_{snake}_free);\n}}")
        tag = (f", .tag_offset = offsetof(Qa{name}, {members[0].c_name})"
               if kind == "union" else "")
        c.append(f"const QaTypeDesc qa_type_{snake} = {{ .kind = QA_KIND_{kind.upper()}, "
                 f'.name = "{name}", .size = sizeof(Qa{name}), '
                 f".members = qa_type_{snake}_members, "
                 f".free_func = (GDestroyNotify)qa_{snake}_free{tag} }};")
        c.append(f"const QaTypeDesc qa_type_{snake}_list = {{ .kind = QA_KIND_LIST, "
                 f'.name = "list of {name}", .size = sizeof(GPtrArray *), '
                 f".element = &qa_type_{snake} }};")
        c.append(f"Qa{name} *\nqa_{snake}_new(void)\n{{\n"
                 f"\treturn g_new0(Qa{name}, 1);\n}}")
        c.append(f"void\nqa_{snake}_free(Qa{name} *value)\n{{\n"
                 f"\tqa_schema_struct_free(&qa_type_{snake}, value);\n}}\n")
    for cmd in schema.commands.values():
        snake = c_ident(cmd["name"])
        camel = command_camel(cmd["name"])
        if cmd["members"]:
            member_table(schema, f"qa_args_{snake}", f"Qa{camel}Args", cmd["members"], c)
            c.append(f"static const QaTypeDesc qa_args_type_{snake} = {{ "
                     f'.kind = QA_KIND_STRUCT, .name = "arguments of {cmd["name"]}", '
                     f".size = sizeof(Qa{camel}Args), .members = qa_args_{snake}_members }};")
            c.append(f"void\nqa_{snake}_args_free(Qa{camel}Args *args)\n{{\n"
                     f"\tqa_schema_struct_free(&qa_args_type_{snake}, args);\n}}\n")
        c.extend(gen_marshal(schema, cmd, snake, camel))
    c.append("const QaCommandDef qa_schema_commands[] = {")
    for cmd in schema.commands.values():
        snake = c_ident(cmd["name"])
        args_desc = f"&qa_args_type_{snake}" if cmd["members"] else "NULL"
        c.append(f'\t{{ "{cmd["name"]}", qa_marshal_{snake}, {args_desc}, '
                 f'{str(cmd["success_response"]).upper()}, {str(cmd["worker"]).upper()}, '
                 f'{str(cmd["blocking"]).upper()}, '
                 f'{str(cmd["allow_oob"]).upper()}, '
                 f'{str("extension" in cmd["features"]).upper()} }},')
    c.append("};")
    c.append(f"const guint qa_schema_n_commands = {len(schema.commands)};")
    others = "".join(f'"{n}", ' for n in schema.other_platform_commands)
    c.append(f"const gchar *const qa_schema_other_platform_commands[] = {{ {others}NULL }};")
    return "\n".join(c) + "\n"


def gen_marshal(schema, cmd, snake, camel):
    out = [f"static gboolean\nqa_marshal_{snake}(QaAgent *agent, const QaJson *args, "
           "GString *out, GError **error)\n{"]
    call = ["agent"]
    if cmd["members"]:
        out.append(f"\tg_autoptr(Qa{camel}Args) typed = NULL;")
        call.append("typed")
    r = cmd["returns"]
    ret_desc = None
    if r is not None:
        if cmd["returns_list"]:
            out.append("\tg_autoptr(GPtrArray) ret = NULL;")
            ret_desc = f"{type_desc(schema, r)}_list"
        elif schema.is_object(r):
            out.append(f"\tg_autoptr(Qa{r}) ret = NULL;")
            ret_desc = type_desc(schema, r)
        elif r in schema.enums:
            out.append(f"\tQa{r} ret = 0;")
            ret_desc = type_desc(schema, r)
        elif r == "str":
            out.append("\tg_autofree gchar *ret = NULL;")
            ret_desc = "qa_type_str"
        else:
            out.append(f"\t{BUILTINS[r][0]} ret = 0;")
            ret_desc = BUILTINS[r][1]
        call.append("&ret")
    call.append("error")
    if cmd["members"]:
        out.append(f'\ttyped = qa_schema_args_parse(&qa_args_type_{snake}, "{cmd["name"]}", '
                   "args, error);")
        out.append("\tif (typed == NULL)\n\t\treturn FALSE;")
    else:
        out.append(f'\tif (!qa_schema_args_check_empty("{cmd["name"]}", args, error))')
        out.append("\t\treturn FALSE;")
    out.append(f"\tif (!qa_cmd_{snake}({', '.join(call)}))\n\t\treturn FALSE;")
    if ret_desc is None:
        out.append('\tg_string_append(out, "{}");')
    else:
        out.append(f"\tqa_schema_value_write(out, &{ret_desc}, &ret);")
    out.append("\treturn TRUE;")
    out.append("}\n")
    return out


# ---------------------------------------------------------------------------------------------
# Documentation


def type_ref(schema, m_type, is_list):
    t = f"`{m_type}`" if m_type in BUILTINS else f"[`{m_type}`](#{m_type.lower()})"
    return f"array of {t}" if is_list else t


def gen_docs(schema):
    d = ["# quiesce-agent protocol reference", "",
         "Generated from `qapi-schema/quiesce-agent.json`; do not edit. Commands and members "
         "marked **extension** are not part of QEMU's guest agent; a client that does not know "
         "them is not affected by them.", "",
         "Requests are JSON objects `{\"execute\": NAME, \"arguments\": {...}, \"id\": ANY}` "
         "(`arguments` and `id` optional). Replies are one line each: "
         "`{\"return\": VALUE}` or `{\"error\": {\"class\": CLASS, \"desc\": TEXT}}`, with the "
         "request's `id` copied. See the operator's guide for framing, limits and error "
         "classes.", "", "## Commands", ""]
    for c in schema.commands.values():
        ext = " (**extension**)" if "extension" in c["features"] else ""
        d.append(f"### {c['name']}{ext}")
        d.append("")
        d.append(c["doc"])
        d.append("")
        if c["members"]:
            d.append("| argument | type | required | description |")
            d.append("|---|---|---|---|")
            for m in c["members"]:
                ext = " **extension**" if m.is_extension else ""
                req = "no" if m.optional else "yes"
                d.append(f"| `{m.name}` | {type_ref(schema, m.type, m.is_list)} | {req} | "
                         f"{m.doc}{ext} |")
            d.append("")
        else:
            d.append("Arguments: none.")
            d.append("")
        if c["returns"]:
            d.append(f"Returns: {type_ref(schema, c['returns'], c['returns_list'])}"
                     + (f". {c['returns_doc']}" if c["returns_doc"] else ""))
        else:
            d.append("Returns: `{}`.")
        if c["worker"]:
            d.append("")
            d.append("Runs off the main loop, so the commands marked as answered at once stay "
                     "answerable while it runs.")
        if c["allow_oob"]:
            d.append("")
            d.append("Answered at once, even while a freeze, thaw or trim is still running: its "
                     "reply may overtake theirs. Every other reply comes in request order.")
        d.append("")
    d.append("## Types")
    d.append("")
    for s in schema.structs.values():
        d.append(f"### {s['name']}")
        d.append("")
        if s["doc"]:
            d.append(s["doc"])
            d.append("")
        d.append("| member | type | always present | description |")
        d.append("|---|---|---|---|")
        for m in s["members"]:
            ext = " **extension**" if m.is_extension else ""
            d.append(f"| `{m.name}` | {type_ref(schema, m.type, m.is_list)} | "
                     f"{'no' if m.optional else 'yes'} | {m.doc}{ext} |")
        d.append("")
    for e in schema.enums.values():
        d.append(f"### {e['name']}")
        d.append("")
        if e["doc"]:
            d.append(e["doc"])
            d.append("")
        d.append("Values: " + ", ".join(f"`{v}`" for v in e["values"]) + ".")
        d.append("")
    return "\n".join(d) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("schema")
    ap.add_argument("--header", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--docs", required=True)
    ap.add_argument("--platform", choices=("linux", "windows"), default="linux",
                    help="commands marked 'if' for another platform are left out")
    a = ap.parse_args()
    try:
        with open(a.schema, encoding="utf-8") as f:
            schema = Schema(Parser(f.read(), a.schema).definitions(), a.platform)
    except SchemaError as e:
        print(f"generate.py: {e}", file=sys.stderr)
        return 1
    for path, text in ((a.header, gen_header(schema)), (a.source, gen_source(schema)),
                       (a.docs, gen_docs(schema))):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
