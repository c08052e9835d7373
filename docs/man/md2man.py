#!/usr/bin/python3
"""docs/man/md2man.py — renders the man pages from their Markdown sources.

    lb.json(5)  from docs/configuration.md (the configuration reference)
    lb(8)       from docs/lb.8.md           (command line, signals, admin API, files)

Only the Markdown the sources use: headings, paragraphs, fenced code, lists,
pipe tables (tbl), `code`, **bold**, *italic* and [links](...). The output is
committed beside this script so `make install` needs no Python; a test
regenerates it and fails when it is stale (`make man` updates it).
Usage: md2man.py [--check]
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.dirname(HERE)
PAGES = [
    # source, output, title, section, one-line description
    ("configuration.md", "lb.json.5", "LB.JSON", "5", "lb.json \\- configuration file of the lb load balancer"),
    ("lb.8.md", "lb.8", "LB", "8", "lb \\- L4/L7 load balancer"),
]
DATE = "2026-12-06"
SYMBOLS = {"→": "\\(->", "←": "\\(<-", "…": "...", "×": "\\(mu", "—": "\\(em", "–": "\\(en",
           "≤": "\\(<=", "≥": "\\(>=", "≈": "\\(~~", "≠": "\\(!=", "‘": "'", "’": "'", "“": "\\(lq", "”": "\\(rq"}


def escape(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    out = []
    for ch in text:
        if ord(ch) < 128:
            out.append(ch)
        else:
            out.append(SYMBOLS.get(ch, "\\[u%04X]" % ord(ch)))
    return "".join(out)


def inline(text, narrow=False):
    """Markdown inline markup → roff fonts; everything else escaped. narrow
    (table cells): long code may break after / _ , = : (\\: break points)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            code = escape(part[1:-1])
            if narrow:
                code = re.sub(r"([/_,=:{])", r"\1\\:", code)
            out.append("\\fB" + code + "\\fR")
            continue
        part = re.sub(r"\[([^\]]+)\]\(#[^)]*\)", r"\1", part)          # in-page anchors: the text
        part = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", part)    # other links: text (target)
        s = escape(part)
        if narrow:
            s = re.sub(r"([/_])", r"\1\\:", s)
        s = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", s)
        s = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", s)
        out.append(s)
    return "".join(out)


def line_safe(s):
    """A roff text line must not start with a control character."""
    return "\\&" + s if s.startswith((".", "'")) else s


def table(rows):
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    cells = [r for r in cells if not all(re.fullmatch(r":?-+:?", c) for c in r)]
    ncol = max(len(r) for r in cells)
    out = [".TS", "allbox tab(@);", " ".join(["lb"] * ncol), " ".join(["lx"] * ncol) + "."]
    for i, r in enumerate(cells):
        r = r + [""] * (ncol - len(r))
        out.append("@".join("T{\n" + line_safe(inline(c, narrow=True).replace("@", "\\(at")) + "\nT}" for c in r))
    out.append(".TE")
    return out


# ---- the error catalogue of lb.json(5), read from conf/*.cpp ----
# Each ctx.error(POINTER, MESSAGE) call and each `err = MESSAGE;` of the
# value parsers gives one line; parts computed at run time show as "…".
def _calls(src, pattern):
    for m in re.finditer(pattern, src):
        i = m.end(); depth = 1; j = i; instr = False
        while j < len(src) and depth:
            c = src[j]
            if instr:
                if c == '\\': j += 1
                elif c == '"': instr = False
            elif c == '"': instr = True
            elif c == '(': depth += 1
            elif c == ')': depth -= 1
            j += 1
        yield src[i:j-1]
def _top_split(expr):
    depth=0; instr=False; parts=[]; cur=''
    i=0
    while i < len(expr):
        c=expr[i]
        if instr:
            cur+=c
            if c=='\\': cur+=expr[i+1]; i+=1
            elif c=='"': instr=False
        elif c=='"': instr=True; cur+=c
        elif c in '([{': depth+=1; cur+=c
        elif c in ')]}': depth-=1; cur+=c
        elif c==',' and depth==0: parts.append(cur); cur=''
        else: cur+=c
        i+=1
    parts.append(cur); return parts
def _render(expr):
    out=''; pos=0
    toks = re.split(r'("(?:[^"\\]|\\.)*")', expr)
    for t in toks:
        t2=t.strip()
        if t2.startswith('"'):
            out += bytes(t2[1:-1], 'utf-8').decode('unicode_escape').encode('latin-1').decode('utf-8')
        elif re.sub(r'[\s+]', '', t2):
            if not out.endswith('…'): out += '…'
    return out


def error_catalogue():
    msgs = set()
    for f in sorted(glob.glob(os.path.join(os.path.dirname(DOCS), "conf", "*.cpp"))):
        src = open(f, encoding="utf-8").read()
        for a in _calls(src, r"ctx\.error\("):
            parts = _top_split(a)
            if len(parts) >= 2:
                msgs.add(_render(",".join(parts[1:])))
        for m in re.finditer(r"\berr = ([^;]*\"[^;]*);", src):
            msgs.add(_render(m.group(1)))
    msgs.discard("")
    msgs.discard("…")
    out = [".SH ERRORS",
           ".PP",
           "lb \\-c FILE \\-\\-check and the start print each problem as",
           "\\fIFILE\\fR: \\fIJSON pointer\\fR: \\fImessage\\fR, one per line, and exit 1;",
           "a rejected reload leaves the running configuration in place and reports the same lines",
           "(error log, POST /reload). The messages, \\(lq...\\(rq standing for the value or",
           "name found, generated from the sources:"]
    for m in sorted(msgs, key=str.lower):
        out += [".IP \\(bu 2", line_safe(escape(m))]
    return out


def convert(src, title, section, name):
    lines = open(src, encoding="utf-8").read().splitlines()
    out = ["'\\\" t", ".\\\" Generated by docs/man/md2man.py from docs/" + os.path.basename(src) + "; do not edit.",
           '.TH %s %s "%s" "lb" "lb manual"' % (title, section, DATE),
           ".ad l", ".nh", ".SH NAME", name]  # ragged right: table cells never need stretching
    i = 0
    para = []
    if lines and lines[0].startswith("# "):
        i = 1
        out.append(".SH DESCRIPTION")

    def flush():
        if para:
            out.append(".PP")
            out.extend(line_safe(inline(p)) for p in para)
            para.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            flush()
            out += [".PP", ".RS 2", ".nf", ".ft CR"]
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(line_safe(escape(lines[i])))
                i += 1
            out += [".ft R", ".fi", ".RE"]
        elif line.startswith("#"):
            flush()
            level = len(line) - len(line.lstrip("#"))
            text = inline(line.lstrip("#").strip())
            out.append((".SH " if level <= 2 else ".SS ") + '"' + (text.upper() if level <= 2 else text) + '"')
        elif line.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            out += table(rows)
            continue
        elif re.match(r"^\s*([-*]|\d+\.) ", line):
            flush()
            indent = len(line) - len(line.lstrip())
            m = re.match(r"^\s*([-*]|\d+\.) (.*)", line)
            mark = "\\(bu" if m.group(1) in "-*" else m.group(1)
            item = [m.group(2)]
            i += 1
            while i < len(lines) and lines[i].strip() and not re.match(r"^\s*([-*]|\d+\.) ", lines[i]) \
                    and not lines[i].startswith(("#", "|", "```")):
                item.append(lines[i].strip())
                i += 1
            if indent:
                out.append(".RS 4")
            out.append('.IP "%s" 4' % mark)
            out.extend(line_safe(inline(p)) for p in item)
            if indent:
                out.append(".RE")
            continue
        elif not line.strip():
            flush()
        else:
            para.append(line.strip())
        i += 1
    flush()
    if section == "5":
        out += error_catalogue()
    return "\n".join(out) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for src, dst, title, section, name in PAGES:
        text = convert(os.path.join(DOCS, src), title, section, name)
        path = os.path.join(HERE, dst)
        if check:
            if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:
                stale.append(dst)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("stale man pages (run make man): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
