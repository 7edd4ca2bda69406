"""The man pages against what they summarise. docs/cli.md and docs/configuration.md are the source of truth:
every option of `taskmaster --help`, of `taskmaster ctl --help` and of cli.md's tables, every command, signal,
exit code, environment variable and searched file of cli.md is in taskmaster(1); every key and program option of
configuration.md's tables is in taskmaster.yml(5), with its type, its default and what a reload does with it.
Both pages render without a warning (man --warnings, as lintian runs it, and groff with every warning), and
meson installs them into mandir.

The pages are checked as a reader sees them: rendered by man(1), not as scdoc sources.

Environment: TASKMASTER (the binary) and TM_BUILD_ROOT (the build, whose man/ holds the pages), set by
tests/meson.build. man-db and groff come with `make deps-test`. Python standard library only.
"""

import json
import os
import re
import shutil
import subprocess
import sys

from tmtest import TASKMASTER, check, main, read_file, run, test, tmpdir, version

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_ROOT = os.environ.get("TM_BUILD_ROOT", "")
PAGES = {"taskmaster.1": "man1", "taskmaster.yml.5": "man5"}


def build_option(name):
    """The value of a meson option of this build, from its introspection data."""
    with open(os.path.join(BUILD_ROOT, "meson-info", "intro-buildoptions.json")) as f:
        return next(o["value"] for o in json.load(f) if o["name"] == name)


def page_path(page):
    return os.path.join(BUILD_ROOT, "man", page)


def render(page, width=80, extra_env=None, formatted=False):
    """(exit code, output, stderr) of man -l on a page, as lintian runs it (troff's output, -Z), or formatted
    for a reader."""
    env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH=str(width), **(extra_env or {}))
    env.pop("MAN_KEEP_FORMATTING", None)
    p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", *([] if formatted else ["-Tutf8", "-Z"]), page],
                       capture_output=True, env=env, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


_texts = {}


def text(page):
    """The page as man shows it, wide and without hyphenation, so that no word is cut at a line's end; with
    formatting removed and typographic hyphens and minus signs read as '-'."""
    if page not in _texts:
        code, out, err = render(page_path(page), width=250, extra_env={"MANROFFOPT": "-rHY=0"}, formatted=True)
        check(code == 0 and out, f"man -l {page}: exit {code}: {err}")
        out = subprocess.run(["col", "-bx"], input=out.encode(), capture_output=True, check=True).stdout.decode()
        _texts[page] = out.replace("\u2010", "-").replace("\u2212", "-").replace("\u2011", "-")
    return _texts[page]


def sections(page):
    """{heading: body} for the page's sections (unindented headings) and subsections ("SECTION/Subsection"); a
    section's body ends where its first subsection starts."""
    result, name, top = {}, None, None
    for line in text(page).splitlines()[1:-1]:
        if line and not line[0].isspace():
            name = top = line.strip()
        elif re.match(r"^ {3}\S", line):
            name = f"{top}/{line.strip()}"
        elif name:
            result[name] = result.get(name, "") + line + "\n"
    return result


def section(page, name):
    found = sections(page)
    check(name in found, f"{page} has no section {name!r}: {sorted(found)}")
    return found[name]


def entries(body):
    """{term line: description} of a section's definition list: a line at the section's indent followed by
    lines indented further."""
    lines, result = body.splitlines(), {}
    for i, line in enumerate(lines):
        if re.match(r"^ {7}\S", line) and i + 1 < len(lines) and re.match(r"^ {8,}\S", lines[i + 1]):
            description = []
            for following in lines[i + 1:]:
                if not re.match(r"^ {8,}\S", following):
                    break
                description.append(following.strip())
            result[normal(line)] = " ".join(description)
    return result


def literal_block(body):
    """The first literal block of a section: the lines indented as a description, after a blank line."""
    block, previous = [], "x"
    for line in body.splitlines():
        if block and line.strip() and not line.startswith(" " * 11):
            break
        if block or (not previous.strip() and line.startswith(" " * 11)):
            block.append(line[11:])
        previous = line
    check(block, f"no literal block in: {body[:200]}")
    return "\n".join(block).rstrip() + "\n"


def normal(s):
    return " ".join(s.split())


def terms(page, name):
    return list(entries(section(page, name)))


def in_terms(phrase, term_lines):
    """Whether phrase is in one of the term lines, as whole words."""
    pattern = r"(?<![\w-])" + re.escape(normal(phrase)) + r"(?![\w-])"
    return any(re.search(pattern, t) for t in term_lines)


# Markdown: the tables of a docs/ page, with the headings they are under.

def plain(cell):
    """A table cell as text: links and code marks and bold removed, arrows read as 'to'."""
    cell = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell)
    return normal(cell.replace("`", "").replace("**", "").replace("→", "to"))


def code_spans(cell):
    return re.findall(r"`([^`]+)`", cell)


def tables(doc):
    """[(heading path, rows)]: each table of docs/<doc>, its rows as lists of cells, the header row excluded."""
    result, headings, rows = [], [], None
    for line in read_file(os.path.join(SOURCE_ROOT, "docs", doc)).splitlines() + [""]:
        heading = re.match(r"^(#+) (.*)", line)
        if heading:
            level = len(heading.group(1))
            headings = headings[:level - 1] + [heading.group(2)]
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if rows is None:
                rows = [cells]
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif rows is not None:
            result.append((" / ".join(headings), rows[0], rows[1:]))
            rows = None
    check(result, f"no tables in docs/{doc}")
    return result


def table(doc, heading, first_column):
    """The rows of the table under the heading (its last part) whose first header cell is first_column."""
    found = [rows for path, header, rows in tables(doc)
             if path.split(" / ")[-1] == heading and header[0] == first_column]
    check(len(found) == 1, f"docs/{doc}: {len(found)} tables '{first_column}' under '{heading}'")
    check(found[0], f"docs/{doc}: the table '{first_column}' under '{heading}' is empty")
    return found[0]


def help_options(args):
    """[(option, argument)] of a --help's Options: block, in boost's format: '-c [ --config ] FILE  description'."""
    code, out, err = run(args)
    check(code == 0, f"taskmaster {' '.join(args)}: exit {code}: {err}")
    block = out.split("Options:\n", 1)[1].split("\n\n", 1)[0]
    options = []
    for line in block.splitlines():
        spec = re.match(r"^  (--?[A-Za-z][\w-]*)(?: \[ (--[\w-]+) \])?(?: ([A-Z][A-Z_]*))?(?:\s|$)", line)
        if spec:
            options += [(name, spec.group(3) or "") for name in spec.group(1, 2) if name]
    check(len(options) >= 4, f"too few options in taskmaster {' '.join(args)}: {options}")
    return options


# taskmaster(1)

@test
def every_option_of_taskmaster_help_is_in_options():
    term_lines = terms("taskmaster.1", "OPTIONS")
    for option, argument in help_options(["--help"]):
        spelt = f"{option} {argument}".strip()
        check(in_terms(spelt, term_lines), f"taskmaster --help has '{spelt}'; taskmaster(1)'s OPTIONS does not")


@test
def every_option_of_ctl_help_is_in_the_ctl_section():
    term_lines = terms("taskmaster.1", "TASKMASTER CTL")
    for option, argument in help_options(["ctl", "--help"]):
        spelt = f"{option} {argument}".strip()
        check(in_terms(spelt, term_lines),
              f"taskmaster ctl --help has '{spelt}'; taskmaster(1)'s TASKMASTER CTL does not")


@test
def every_option_of_cli_md_is_spelt_the_same_in_the_page():
    for heading, section_name in (("Options", "OPTIONS"), ("`taskmaster ctl`", "TASKMASTER CTL")):
        term_lines = terms("taskmaster.1", section_name)
        for row in table("cli.md", heading, "option"):
            for spelt in code_spans(row[0]):
                check(in_terms(spelt, term_lines),
                      f"docs/cli.md ({heading}) has '{spelt}'; taskmaster(1)'s {section_name} does not")


@test
def every_command_of_cli_md_and_ctl_help_is_in_commands():
    term_lines = terms("taskmaster.1", "COMMANDS")
    cli = read_file(os.path.join(SOURCE_ROOT, "docs", "cli.md"))
    commands = cli.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    usages = [u for h in re.findall(r"^### (.*)$", commands, re.M) for u in code_spans(h)]
    check(len(usages) >= 15, f"too few commands found in docs/cli.md: {usages}")
    for usage in usages:
        check(in_terms(usage, term_lines), f"docs/cli.md has the command '{usage}'; taskmaster(1)'s COMMANDS does not")
    code, out, _ = run(["ctl", "--help"])
    listed = re.search(r"^COMMAND: (.*?)(?:, as in|$)", out, re.M)
    check(code == 0 and listed, f"no COMMAND list in taskmaster ctl --help: {out}")
    names = [n.strip() for n in listed.group(1).split(",")]
    first_words = {t.split()[0].rstrip(",") for t in term_lines}
    for name in names:
        check(name in first_words, f"taskmaster ctl --help lists '{name}'; taskmaster(1)'s COMMANDS does not")


@test
def every_signal_of_cli_md_is_in_signals():
    term_lines = terms("taskmaster.1", "SIGNALS")
    for row in table("cli.md", "Signals", "signal"):
        for signal_name in re.findall(r"\bSIG[A-Z0-9]+\b", row[0]):
            check(in_terms(signal_name, term_lines), f"docs/cli.md has {signal_name}; taskmaster(1)'s SIGNALS does not")


@test
def every_exit_code_of_cli_md_is_in_exit_status():
    for heading, subsection in (("Exit codes", "EXIT STATUS/taskmaster"),
                                ("Exit status of `taskmaster ctl`", "EXIT STATUS/taskmaster ctl")):
        documented = [row[0] for row in table("cli.md", heading, "code")]
        in_page = terms("taskmaster.1", subsection)
        check(documented == in_page, f"exit codes: docs/cli.md ({heading}) {documented}, taskmaster(1) {in_page}")


@test
def every_environment_variable_of_cli_md_is_in_environment():
    term_lines = terms("taskmaster.1", "ENVIRONMENT")
    for row in table("cli.md", "Environment", "variable"):
        for variable in code_spans(row[0]):
            check(in_terms(variable, term_lines), f"docs/cli.md has {variable}; taskmaster(1)'s ENVIRONMENT does not")


@test
def the_files_searched_for_a_configuration_are_in_files():
    cli = read_file(os.path.join(SOURCE_ROOT, "docs", "cli.md"))
    searched = cli.split("### Where the configuration is looked for\n", 1)[1].split("\n#", 1)[0]
    paths = [p for item in re.findall(r"^\d+\. (.*(?:\n   .*)*)", searched, re.M) for p in code_spans(item)
             if "/" in p]
    check(len(paths) >= 5, f"too few searched paths found in docs/cli.md: {paths}")
    files = normal(section("taskmaster.1", "FILES"))
    for path in paths:
        check(path in files, f"docs/cli.md searches {path}; taskmaster(1)'s FILES does not say so")
    # In the order they are tried.
    positions = [files.index(p) for p in paths]
    check(positions == sorted(positions), f"FILES lists the searched paths in another order than docs/cli.md: {paths}")


@test
def the_pages_carry_the_version_of_the_program():
    expected = version()
    check(re.fullmatch(r"taskmaster \d+\.\d+\.\d+\S*", expected), expected)
    for page in PAGES:
        lines = text(page).strip().splitlines()
        name = page.rsplit(".", 1)
        check(lines[0].startswith(f"{name[0]}({name[1]})"), f"{page}'s header: {lines[0]}")
        check(lines[-1].startswith(expected + " "), f"{page}'s footer: {lines[-1]} (expected {expected})")


@test
def every_entry_of_the_tables_of_cli_md_is_in_the_pages():
    # The tables above, and those of the states of status, tail's arguments and taskmaster's own settings.
    pages = normal(text("taskmaster.1")) + "\n" + normal(text("taskmaster.yml.5"))
    count = 0
    for path, header, rows in tables("cli.md"):
        for row in rows:
            values = code_spans(row[0]) or re.findall(r"\b(?:[A-Z][A-Z0-9]+|\d+)\b", row[0])
            check(values, f"docs/cli.md ({path}): nothing to look for in '{row[0]}'")
            for value in values:
                count += 1
                check(re.search(r"(?<![\w-])" + re.escape(value) + r"(?![\w-])", pages),
                      f"docs/cli.md ({path}) has '{value}'; the man pages do not")
    check(count >= 60, f"only {count} entries in docs/cli.md's tables")


# taskmaster.yml(5)

@test
def every_top_level_key_of_configuration_md_is_in_top_level_keys():
    found = entries(section("taskmaster.yml.5", "TOP-LEVEL KEYS"))
    for key_cell, type_cell, required, meaning in table("configuration.md", "The file", "key"):
        for key in code_spans(key_cell):
            matches = [(t, d) for t, d in found.items() if re.match(re.escape(key) + r"\b(?!_)", t)
                       or re.match(r"^\S+, " + re.escape(key) + r" ", t)]
            check(matches, f"docs/configuration.md has the key '{key}'; taskmaster.yml(5)'s TOP-LEVEL KEYS does not")
            term, description = matches[0]
            entry = term + " " + description
            for token in code_spans(type_cell):
                check(token in entry, f"'{key}': the type's '{token}' is not in taskmaster.yml(5): {entry}")
            default = re.search(r"\(default `([^`]+)`", meaning)
            if default:
                check(default.group(1) in term, f"'{key}': default {default.group(1)} not in: {term}")
            check((required == "yes") == ("required" in term),
                  f"'{key}' required: {required}; taskmaster.yml(5): {term}")


@test
def every_program_option_has_its_type_default_and_reload_behaviour():
    found = entries(section("taskmaster.yml.5", "PROGRAM OPTIONS"))
    rows = table("configuration.md", "Options", "option")
    check(len(rows) >= 25, f"too few options in docs/configuration.md: {len(rows)}")
    for option_cell, type_cell, default_cell, reload_cell in rows:
        option = code_spans(option_cell)[0]
        matches = [t for t in found if t.split(" (", 1)[0] == option]
        check(len(matches) == 1,
              f"docs/configuration.md has '{option}'; taskmaster.yml(5)'s PROGRAM OPTIONS: {matches}")
        term = matches[0]
        check(plain(type_cell) in term, f"'{option}': type '{plain(type_cell)}' not in: {term}")
        if plain(default_cell) == "required":
            check("; required;" in term, f"'{option}' is required; taskmaster.yml(5): {term}")
        for value in ([] if plain(default_cell) == "required" else code_spans(default_cell) or [plain(default_cell)]):
            check(re.search(r"default [^;]*" + re.escape(value), term), f"'{option}': default '{value}' not in: {term}")
        check(f"on reload, a change {plain(reload_cell)}" in term, f"'{option}': reload '{reload_cell}' not in: {term}")
    documented = {code_spans(r[0])[0] for r in rows}
    extra = [t.split(" (", 1)[0] for t in found if t.split(" (", 1)[0] not in documented]
    check(not extra, f"taskmaster.yml(5) has options docs/configuration.md does not: {extra}")


@test
def every_entry_of_the_other_tables_of_configuration_md_is_in_the_page():
    page = normal(text("taskmaster.yml.5"))
    covered = {"The file", "Options"}
    others = [(path, rows) for path, header, rows in tables("configuration.md") if path.split(" / ")[-1] not in covered]
    check(len(others) >= 4, f"placeholders, variables, durations and sizes: {[p for p, _ in others]}")
    for path, rows in others:
        for row in rows:
            for value in code_spans(row[0]):
                check(re.search(r"(?<![\w{-])" + re.escape(value) + r"(?![\w}-])", page),
                      f"docs/configuration.md ({path}) has '{value}'; taskmaster.yml(5) does not")


@test
def the_examples_of_taskmaster_yml_are_valid_configurations():
    for section_name, processes in (("DESCRIPTION", ["web:0", "web:1", "worker"]),
                                    ("PROGRAM NAMES", ["db:primary", "db:replica"])):
        example = literal_block(section("taskmaster.yml.5", section_name))
        path = os.path.join(tmpdir(), "taskmaster.yml")
        with open(path, "w") as f:
            f.write(example)
        code, out, err = run(["--check", "-c", path])
        check(code == 0 and out.split() == processes,
              f"taskmaster.yml(5)'s {section_name} example: exit {code}, {out!r}, {err}\n{example}")


# Both pages

@test
def the_pages_render_without_warnings():
    for page in PAGES:
        code, out, err = render(page_path(page))
        check(code == 0 and "tNAME" in out and "tSEE" in out, f"man -l {page}: exit {code}: {out[:200]}")
        check(not err, f"man --warnings -l {page}:\n{err}")
        p = subprocess.run(["groff", "-ww", "-man", "-z", "-K", "utf8", page_path(page)], capture_output=True,
                           text=True, timeout=60)
        check(p.returncode == 0 and not p.stderr, f"groff -ww -man -z {page}: exit {p.returncode}:\n{p.stderr}")
        # The whatis entry, which apropos(1) and lintian read from NAME.
        p = subprocess.run(["lexgrog", page_path(page)], capture_output=True, text=True, timeout=60)
        name = page.rsplit(".", 1)[0]
        check(p.returncode == 0 and f': "{name} - ' in p.stdout, f"lexgrog {page}: exit {p.returncode}: {p.stdout}")


@test
def a_page_with_a_mistake_is_reported():
    # The renderers say so when a page is wrong: the checks above can fail.
    bad = os.path.join(tmpdir(), "bad.1")
    with open(page_path("taskmaster.1")) as f:
        source = f.read()
    with open(bad, "w") as f:
        f.write(source.replace(".SH OPTIONS", ".SH OPTIONS\n.BOGUS macro\n\\f(XX", 1))
    _, _, err = render(bad)
    check("BOGUS" in err or "warning" in err, f"man --warnings did not report an unknown macro: {err!r}")
    p = subprocess.run(["groff", "-ww", "-man", "-z", "-K", "utf8", bad], capture_output=True, text=True, timeout=60)
    check("warning" in p.stderr, f"groff -ww did not report an unknown macro: {p.stderr!r}")


@test
def meson_install_puts_the_pages_into_mandir():
    meson = shutil.which("meson")
    check(meson, "meson not found in PATH")
    root = tmpdir()
    p = subprocess.run([meson, "install", "-C", BUILD_ROOT, "--no-rebuild", "--quiet", "--tags", "man",
                        "--destdir", root], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"meson install: exit {p.returncode}: {p.stdout}{p.stderr}")
    prefix, mandir = build_option("prefix"), build_option("mandir")
    for page, folder in PAGES.items():
        installed = os.path.join(root + os.path.join(prefix, mandir), folder, page)
        check(os.path.isfile(installed), f"{page} not installed as {installed}: {os.listdir(root)}")
        with open(installed, "rb") as a, open(page_path(page), "rb") as b:
            check(a.read() == b.read(), f"{installed} differs from the built page")


if __name__ == "__main__":
    if not BUILD_ROOT:
        print("TM_BUILD_ROOT must name the build directory")
        sys.exit(2)
    if not all(os.path.isfile(page_path(p)) for p in PAGES):
        if build_option("man") == "disabled":
            print("the man pages are not built (-Dman=disabled): skipped")
            sys.exit(77)
        print(f"the man pages are not in {os.path.join(BUILD_ROOT, 'man')}: scdoc was not found when the build was"
              " configured (apt-get install scdoc, then meson setup --reconfigure)")
        sys.exit(1)
    for tool in ("man", "groff", "col"):
        if not shutil.which(tool):
            print(f"{tool} not found: make deps-test installs man-db and groff")
            sys.exit(1)
    main()
