#!/usr/bin/env python3
"""tools/gen_unicode_tables.py — writes src/tokenizer/unicode_data.inc, the Unicode tables of the
tokenizer (character classes for the pre-tokenizer splitter, NFC data for the NFC normalizer).

Which Unicode version: HF `tokenizers` runs its split regexes through Oniguruma, whose tables are
Unicode 16.0, so the classes come from unicodedata2==16.0.0 (PyPI). Its NFC normalizer
(unicode-normalization-alignments) carries older tables (Unicode 9-era): marks and composites
added later have combining class 0 and no decomposition there. So the NFC data starts from
Unicode 16.0 and keeps only the entries on which HF's own NFC/NFD agree, checked code point by
code point against the installed `tokenizers`. Run with a Python that has `tokenizers` and
unicodedata2 16.0.0 (tools/setup.sh's venv has tokenizers):
    build/venv/bin/pip install unicodedata2==16.0.0 && build/venv/bin/python tools/gen_unicode_tables.py
"""
import os
import sys

import unicodedata2 as ud
from tokenizers import Regex, normalizers
from tokenizers import pre_tokenizers as pt

assert ud.unidata_version == "16.0.0", f"need unicodedata2 16.0.0, have {ud.unidata_version}"

OUT = os.path.join(os.path.dirname(__file__), "..", "src", "tokenizer", "unicode_data.inc")
CPS = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
WHITE_SPACE = [0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
               0x2029, 0x202F, 0x205F, 0x3000]

# Class bits (keep in sync with unicode.h).
L, N, WS, NFC_UNSTABLE, WORD, NUMERIC, PUNCT = 1, 2, 4, 8, 16, 32, 64


def hf_class(pattern):
    """Code points that HF's regex engine puts in `pattern` (a one-character class)."""
    s = "".join(map(chr, CPS))
    kept = set()
    for piece, _ in pt.Split(Regex(pattern), behavior="removed").pre_tokenize_str(s):
        kept.update(map(ord, piece))
    return set(CPS) - kept


def hf_isolated(pre):
    """Code points that a per-character pre-tokenizer (Digits, Punctuation: Rust's char methods,
    not the regex engine) splits off: each probe stands alone between two 'a's."""
    probes = [c for c in CPS if c != ord("a")]
    s = "a" + "a".join(map(chr, probes)) + "a"
    return {ord(piece) for piece, _ in pre.pre_tokenize_str(s) if len(piece) == 1 and piece != "a"}


def main():
    flags = [0] * 0x110000
    letters = {c for c in CPS if ud.category(chr(c)).startswith("L")}
    numbers = {c for c in CPS if ud.category(chr(c)).startswith("N")}
    spaces = set(WHITE_SPACE)
    # The tables must be HF's, not merely Unicode 16's: check all three classes.
    for name, ours, pattern in (("L", letters, r"\p{L}"), ("N", numbers, r"\p{N}"), ("WS", spaces, r"\s")):
        theirs = hf_class(pattern)
        if ours != theirs:
            sys.exit(f"class {name}: unicodedata2 and tokenizers disagree on {len(ours ^ theirs)} code points")
    for c in letters:
        flags[c] |= L
    for c in numbers:
        flags[c] |= N
    for c in spaces:
        flags[c] |= WS
    # Digits and Punctuation test characters with Rust's char::is_numeric and the
    # unicode_categories crate (plus ASCII punctuation), whose Unicode versions are their own.
    for c in hf_isolated(pt.Digits(individual_digits=True)):
        flags[c] |= NUMERIC
    for c in hf_isolated(pt.Punctuation()):
        flags[c] |= PUNCT
    removed = set(CPS) - {ord(ch) for piece, _ in pt.WhitespaceSplit().pre_tokenize_str(
        "".join(map(chr, CPS))) for ch in piece}
    if removed != spaces:  # WhitespaceSplit (char::is_whitespace) uses the \s class
        sys.exit(f"WhitespaceSplit and \\s disagree on {len(removed ^ spaces)} code points")
    # \w as the Rust regex crate defines it (HF's single_word check): Alphabetic, marks, decimal
    # digits, connector punctuation, joiners. Alphabetic is approximated by letters, letter numbers
    # and the circled letters (its other members are marks, already in).
    for c in CPS:
        cat = ud.category(chr(c))
        if cat[0] in "LM" or cat in ("Nl", "Nd", "Pc") or c in (0x200C, 0x200D) or 0x24B6 <= c <= 0x24E9:
            flags[c] |= WORD

    hf_nfc, hf_nfd = normalizers.NFC(), normalizers.NFD()
    # Combining classes as HF sees them: with U+0345 (ccc 240) before it, a mark of class 1..239
    # is moved in front of U+0345 by canonical ordering; a class-0 character is not.
    ccc = {}
    for c in CPS:
        k = ud.combining(chr(c))
        if k == 0:
            continue
        probe = "a\u0345" + chr(c)
        if c == 0x345 or hf_nfd.normalize_str(probe) != probe:
            ccc[c] = k
    # Canonical decompositions (one level) that HF also applies.
    decomp = {}
    for c in CPS:
        d = ud.decomposition(chr(c))
        if not d or d.startswith("<") or 0xAC00 <= c <= 0xD7A3:
            continue
        if hf_nfd.normalize_str(chr(c)) != ud.normalize("NFD", chr(c)):
            continue
        decomp[c] = [int(x, 16) for x in d.split()]
    compose = {}
    for c, d in decomp.items():
        if len(d) == 2 and hf_nfc.normalize_str(hf_nfd.normalize_str(chr(c))) == chr(c):
            compose[(d[0], d[1])] = c
    seconds = {b for (_, b) in compose}
    for c in CPS:
        if c in ccc or c in seconds or (c in decomp and hf_nfc.normalize_str(chr(c)) != chr(c)):
            flags[c] |= NFC_UNSTABLE
    for c in range(0x1161, 0x1176):  # Hangul V jamo compose with L
        flags[c] |= NFC_UNSTABLE
    for c in range(0x11A8, 0x11C3):  # Hangul T jamo compose with LV
        flags[c] |= NFC_UNSTABLE

    def two_stage(values, name, ctype):
        blocks, index = {}, []
        for hi in range(0x110000 >> 8):
            blk = tuple(values[hi << 8:(hi + 1) << 8])
            index.append(blocks.setdefault(blk, len(blocks)))
        lines = [f"// {name}: two-stage table, value = {name}_blocks[{name}_index[cp >> 8]][cp & 255]"]
        lines.append(f"static const uint16_t {name}_index[{len(index)}] = {{")
        for i in range(0, len(index), 24):
            lines.append("  " + ",".join(map(str, index[i:i + 24])) + ",")
        lines.append("};")
        lines.append(f"static const {ctype} {name}_blocks[{len(blocks)}][256] = {{")
        for blk in sorted(blocks, key=blocks.get):
            lines.append("  {" + ",".join(map(str, blk)) + "},")
        lines.append("};")
        return lines

    ccc_values = [0] * 0x110000
    for c, k in ccc.items():
        ccc_values[c] = k
    out = ["// Generated by tools/gen_unicode_tables.py from unicodedata2 16.0.0, checked against HF",
           "// tokenizers' own regex classes and NFC; do not edit. Included by unicode.cpp only.", ""]
    out += two_stage(flags, "kClass", "uint8_t")
    out += two_stage(ccc_values, "kCcc", "uint8_t")
    dec = sorted(decomp.items())
    out.append(f"// canonical decompositions, one level: {{cp, first, second or 0}}, sorted by cp")
    out.append(f"static const uint32_t kDecomp[{len(dec)}][3] = {{")
    for c, d in dec:
        out.append(f"  {{0x{c:X},0x{d[0]:X},0x{d[1] if len(d) > 1 else 0:X}}},")
    out.append("};")
    comp = sorted(compose.items())
    out.append("// primary composites: {first, second, composite}, sorted by (first, second)")
    out.append(f"static const uint32_t kCompose[{len(comp)}][3] = {{")
    for (a, b), c in comp:
        out.append(f"  {{0x{a:X},0x{b:X},0x{c:X}}},")
    out.append("};")
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {OUT}: {len(dec)} decompositions, {len(comp)} composites, {len(ccc)} marks")


if __name__ == "__main__":
    main()
