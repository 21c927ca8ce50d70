"""Families of program-synthesis problems for the deduction set, written for rldojo.

A family draws its parameters from an rng and returns the statement (without examples), a
reference solution and an input generator; different parameters make different problems (other
constants, other output words). The builder runs the reference solution in the sandbox on the
generated inputs to get the expected outputs, and shows the first tests as examples.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from rldojo.envs.reason.build.abduction_templates import WORDS

InputMaker = Callable[[random.Random], str]
SHORT_WORDS = ["a", "an", "to", "of", "the", "sky", "sea", "owl", "fig", "ink"]


@dataclass(frozen=True)
class ProblemSpec:
    statement: str
    solution: str
    make_input: InputMaker


def _numbers(rng: random.Random, low: int, high: int, count: tuple[int, int]) -> str:
    n = rng.randint(*count)
    return f"{n}\n" + " ".join(str(rng.randint(low, high)) for _ in range(n))


def _sentence(rng: random.Random, count: tuple[int, int]) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(*count)))


def sum_divisible(rng):
    k = rng.randint(2, 7)
    return ProblemSpec(
        f"The first line holds n, the second n integers. Print the sum of those integers that are "
        f"divisible by {k} (0 if there are none).",
        f"n = int(input())\nxs = list(map(int, input().split()))\nprint(sum(x for x in xs if x % {k} == 0))\n",
        lambda r: _numbers(r, -100, 100, (1, 12)),
    )


def long_words(rng):
    length = rng.randint(3, 5)
    return ProblemSpec(
        f"A line of lowercase words separated by single spaces is given. Print how many words have "
        f"more than {length} letters, then on the next line those words in their original order "
        f"separated by spaces (an empty line if there are none).",
        f"words = input().split()\nlong = [w for w in words if len(w) > {length}]\nprint(len(long))\nprint(' '.join(long))\n",
        lambda r: " ".join(r.choice(WORDS + SHORT_WORDS) for _ in range(r.randint(1, 8))),
    )


def kth_smallest_distinct(rng):
    k = rng.randint(1, 3)
    return ProblemSpec(
        f"The first line holds n, the second n integers. Print the {k}-th smallest distinct value "
        f"among them (counting from 1), or NONE if there are fewer than {k} distinct values.",
        f"input()\nvalues = sorted(set(map(int, input().split())))\nprint(values[{k - 1}] if len(values) >= {k} else 'NONE')\n",
        lambda r: _numbers(r, 0, 9, (1, 8)),
    )


def caesar_shift(rng):
    shift = rng.randint(1, 25)
    direction = rng.choice(["forward", "backward"])
    sign = 1 if direction == "forward" else -1
    return ProblemSpec(
        f"Encrypt a line of text with a Caesar cipher: every lowercase letter moves {shift} places "
        f"{direction} in the alphabet (wrapping around); every other character stays as it is. "
        f"Print the result.",
        f"s = input()\nprint(''.join(chr((ord(c) - 97 + ({sign * shift})) % 26 + 97) if 'a' <= c <= 'z' else c for c in s))\n",
        lambda r: _sentence(r, (1, 5)) + r.choice(["", "!", " 42", "."]),
    )


def run_length(rng):
    style = rng.choice(["count-first", "letter-first"])
    body = "f'{n}{c}'" if style == "count-first" else "f'{c}{n}'"
    example = "aaab -> 3a1b" if style == "count-first" else "aaab -> a3b1"
    return ProblemSpec(
        f"Run-length encode a string of lowercase letters: replace every maximal run of a letter by "
        f"the run's {'length followed by the letter' if style == 'count-first' else 'letter followed by its length'} "
        f"(for example {example}). Print the encoding.",
        "s = input().strip()\nout = []\ni = 0\n"
        "while i < len(s):\n    j = i\n    while j < len(s) and s[j] == s[i]:\n        j += 1\n"
        f"    n, c = j - i, s[i]\n    out.append({body})\n    i = j\n"
        "print(''.join(out))\n",
        lambda r: "".join(r.choice("aab") * r.randint(1, 4) for _ in range(r.randint(1, 6))),
    )


def balanced_brackets(rng):
    pairs = rng.choice(["()", "()[]", "()[]{}", "[]{}", "<>()"])
    yes, no = rng.choice([("YES", "NO"), ("balanced", "unbalanced"), ("ok", "bad")])
    openers, closers = pairs[0::2], pairs[1::2]

    def make(r):
        lines = []
        for _ in range(r.randint(1, 5)):
            s = []
            for _ in range(r.randint(1, 6)):
                i = r.randrange(len(openers))
                s.append(openers[i] + (r.choice(openers) + r.choice(closers) if r.random() < 0.3 else "") + closers[i])
            text = "".join(s)
            if r.random() < 0.4:
                cut = r.randrange(len(text))
                text = text[:cut] + text[cut + 1 :] if len(text) > 1 else text + closers[0]
            lines.append(text)
        return f"{len(lines)}\n" + "\n".join(lines)

    return ProblemSpec(
        f"The first line holds t; each of the next t lines is a string of the brackets {' '.join(pairs)}. "
        f"For each string print {yes} if its brackets are balanced and properly nested, else {no}.",
        f"pairs = {{{', '.join(f'{closers[i]!r}: {openers[i]!r}' for i in range(len(openers)))}}}\n"
        "for _ in range(int(input())):\n    stack = []\n    good = True\n"
        "    for c in input().strip():\n        if c in pairs.values():\n            stack.append(c)\n"
        "        elif not stack or stack.pop() != pairs[c]:\n            good = False\n            break\n"
        f"    print({yes!r} if good and not stack else {no!r})\n",
        make,
    )


def gcd_lcm(rng):
    order = rng.choice(["gcd lcm", "lcm gcd"])
    expr = "g, a * b // g" if order == "gcd lcm" else "a * b // g, g"
    return ProblemSpec(
        f"Two positive integers a and b are given on one line. Print their "
        f"{'greatest common divisor and then their least common multiple' if order == 'gcd lcm' else 'least common multiple and then their greatest common divisor'}, "
        f"separated by a space.",
        f"from math import gcd\na, b = map(int, input().split())\ng = gcd(a, b)\nprint({expr})\n",
        lambda r: f"{r.randint(1, 500)} {r.randint(1, 500)}",
    )


def fibonacci_mod(rng):
    m = rng.choice([97, 1000, 10007, 12345, 65536])
    f0, f1 = rng.choice([(0, 1), (1, 1), (2, 1), (1, 3)])
    return ProblemSpec(
        f"A sequence starts with F(0) = {f0} and F(1) = {f1}, and F(i) = F(i-1) + F(i-2). Given n "
        f"(0 <= n <= 100000), print F(n) modulo {m}.",
        f"n = int(input())\na, b = {f0}, {f1}\nfor _ in range(n):\n    a, b = b, (a + b) % {m}\nprint(a % {m})\n",
        lambda r: str(r.choice([r.randint(0, 20), r.randint(20, 5000)])),
    )


def count_primes(rng):
    kind = rng.choice(["at most n", "below n", "between 2 and n whose last digit is 3"])
    cond = {
        "at most n": "p <= n",
        "below n": "p < n",
        "between 2 and n whose last digit is 3": "p <= n and p % 10 == 3",
    }[kind]
    return ProblemSpec(
        f"Given an integer n (1 <= n <= 20000), print how many primes are {kind}.",
        "n = int(input())\nsieve = [True] * (n + 1)\ncount = 0\n"
        "for p in range(2, n + 1):\n    if sieve[p]:\n"
        f"        if {cond}:\n            count += 1\n"
        "        for q in range(p * p, n + 1, p):\n            sieve[q] = False\n"
        "print(count)\n",
        lambda r: str(r.choice([r.randint(1, 30), r.randint(30, 20000)])),
    )


def reverse_each_word(rng):
    sep = rng.choice([" ", ",", "|"])
    return ProblemSpec(
        f"Reverse the letters of every word in a line (words are separated by single spaces) but "
        f"keep the words in order; print them joined by {sep!r}.",
        f"print({sep!r}.join(w[::-1] for w in input().split()))\n",
        lambda r: _sentence(r, (1, 6)),
    )


def second_largest(rng):
    word = rng.choice(["NONE", "-", "none"])
    return ProblemSpec(
        f"The first line holds n, the second n integers. Print the second largest distinct value, "
        f"or {word} if all values are equal.",
        f"input()\nvalues = sorted(set(map(int, input().split())))\nprint(values[-2] if len(values) > 1 else {word!r})\n",
        lambda r: _numbers(r, -5, 5, (1, 7)),
    )


def max_subarray(rng):
    allow_empty = rng.random() < 0.5
    return ProblemSpec(
        f"The first line holds n, the second n integers. Print the largest sum of a contiguous "
        f"{'run of the integers (the empty run, with sum 0, counts)' if allow_empty else 'non-empty run of the integers'}.",
        "input()\nxs = list(map(int, input().split()))\n"
        + (
            "best = cur = 0\nfor x in xs:\n    cur = max(0, cur + x)\n    best = max(best, cur)\n"
            if allow_empty
            else "best = cur = xs[0]\nfor x in xs[1:]:\n    cur = max(x, cur + x)\n    best = max(best, cur)\n"
        )
        + "print(best)\n",
        lambda r: _numbers(r, -20, 15, (1, 10)),
    )


def transpose(rng):
    sep = rng.choice([" ", ","])
    return ProblemSpec(
        f"The first line holds r and c; the next r lines hold c integers each, separated by spaces. "
        f"Print the transposed matrix: c lines of r integers separated by {sep!r}.",
        "r, c = map(int, input().split())\nm = [input().split() for _ in range(r)]\n"
        f"for j in range(c):\n    print({sep!r}.join(m[i][j] for i in range(r)))\n",
        lambda r: (
            lambda rows, cols: (
                f"{rows} {cols}\n"
                + "\n".join(" ".join(str(r.randint(0, 99)) for _ in range(cols)) for _ in range(rows))
            )
        )(r.randint(1, 4), r.randint(1, 4)),
    )


def anagram_pairs(rng):
    yes, no = rng.choice([("YES", "NO"), ("anagram", "different"), ("1", "0")])

    def make(r):
        lines = []
        for _ in range(r.randint(1, 5)):
            w = r.choice(WORDS)
            other = "".join(r.sample(w, len(w))) if r.random() < 0.5 else r.choice(WORDS)
            lines.append(f"{w} {other}")
        return f"{len(lines)}\n" + "\n".join(lines)

    return ProblemSpec(
        f"The first line holds t; each of the next t lines holds two lowercase words. For each line "
        f"print {yes} if the words are anagrams of each other (same letters, same counts), else {no}.",
        f"for _ in range(int(input())):\n    a, b = input().split()\n    print({yes!r} if sorted(a) == sorted(b) else {no!r})\n",
        make,
    )


def popcount(rng):
    what = rng.choice(["ones", "zeros"])
    expr = "bin(x).count('1')" if what == "ones" else "bin(x)[2:].count('0')"
    return ProblemSpec(
        f"The first line holds n, the second n non-negative integers. For each integer print the "
        f"number of {what} in its binary representation (without leading zeros; 0 is written as 0), "
        f"all on one line separated by spaces.",
        f"input()\nprint(*[{expr} for x in map(int, input().split())])\n",
        lambda r: _numbers(r, 0, 1000, (1, 8)),
    )


def dedupe(rng):
    keep = rng.choice(["first", "last"])
    body = (
        "seen = set()\nout = []\nfor w in words:\n    if w not in seen:\n        seen.add(w)\n        out.append(w)\n"
        if keep == "first"
        else "out = []\nfor i, w in enumerate(words):\n    if w not in words[i + 1:]:\n        out.append(w)\n"
    )
    return ProblemSpec(
        f"A line of words is given. Remove repeated words, keeping only the {keep} occurrence of "
        f"each, and print the remaining words in order separated by spaces.",
        f"words = input().split()\n{body}print(' '.join(out))\n",
        lambda r: " ".join(r.choice(WORDS[:8]) for _ in range(r.randint(1, 10))),
    )


def fizzbuzz_words(rng):
    a, b = rng.sample([2, 3, 4, 5, 6, 7], 2)
    wa, wb = rng.sample(["Fizz", "Buzz", "Ping", "Pong", "Tick", "Tock"], 2)
    return ProblemSpec(
        f"Given n, print the numbers from 1 to n, one per line, but print {wa} instead of numbers "
        f"divisible by {a}, {wb} instead of numbers divisible by {b}, and {wa}{wb} for numbers "
        f"divisible by both.",
        f"for i in range(1, int(input()) + 1):\n    s = ('{wa}' if i % {a} == 0 else '') + ('{wb}' if i % {b} == 0 else '')\n    print(s or i)\n",
        lambda r: str(r.randint(1, 40)),
    )


def digital_root(rng):
    base = rng.choice([10, 10, 8, 16])
    return ProblemSpec(
        f"Given a non-negative integer n (in decimal), repeatedly replace it by the sum of its "
        f"digits written in base {base} until a single base-{base} digit remains; print that value in decimal.",
        f"n = int(input())\nwhile n >= {base}:\n    s = 0\n    while n:\n        s += n % {base}\n        n //= {base}\n    n = s\nprint(n)\n",
        lambda r: str(r.choice([r.randint(0, 20), r.randint(0, 10**12)])),
    )


def staircase(rng):
    char = rng.choice(["#", "*", "+", "@"])
    align = rng.choice(["left", "right"])
    line = f"'{char}' * i" if align == "left" else f"' ' * (n - i) + '{char}' * i"
    return ProblemSpec(
        f"Given n (1 <= n <= 30), print a staircase of n lines: line i (from 1) holds i '{char}' "
        f"characters{', right-aligned to width n with spaces' if align == 'right' else ''}.",
        f"n = int(input())\nfor i in range(1, n + 1):\n    print({line})\n",
        lambda r: str(r.randint(1, 12)),
    )


def vowels_per_line(rng):
    letters = rng.choice(["aeiou", "aeiouy", "rstln"])
    return ProblemSpec(
        f"The first line holds t; each of the next t lines is a line of lowercase text. For each "
        f"line print how many of its characters are among '{letters}'.",
        f"for _ in range(int(input())):\n    print(sum(c in '{letters}' for c in input()))\n",
        lambda r: (lambda t: f"{t}\n" + "\n".join(_sentence(r, (1, 4)) for _ in range(t)))(r.randint(1, 5)),
    )


def longest_run(rng):
    what = rng.choice(["equal", "strictly increasing"])
    cond = "xs[i] == xs[i - 1]" if what == "equal" else "xs[i] > xs[i - 1]"
    return ProblemSpec(
        f"The first line holds n (n >= 1), the second n integers. Print the length of the longest "
        f"run of consecutive elements that are {what}{' (each larger than the one before)' if what != 'equal' else ''}.",
        f"input()\nxs = list(map(int, input().split()))\nbest = cur = 1\nfor i in range(1, len(xs)):\n"
        f"    cur = cur + 1 if {cond} else 1\n    best = max(best, cur)\nprint(best)\n",
        lambda r: _numbers(r, 0, 4, (1, 12)),
    )


def pair_sums(rng):
    target = rng.randint(5, 15)
    return ProblemSpec(
        f"The first line holds n, the second n integers. Print how many pairs of positions i < j "
        f"have values adding up to exactly {target}.",
        f"input()\nxs = list(map(int, input().split()))\nprint(sum(1 for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[i] + xs[j] == {target}))\n",
        lambda r: _numbers(r, 0, target, (1, 10)),
    )


def to_base(rng):
    base = rng.choice([2, 3, 5, 7, 8, 16])
    return ProblemSpec(
        f"Given a non-negative integer n, print n written in base {base} (digits above 9 are the "
        f"uppercase letters A, B, …; 0 is written as 0).",
        f"digits = '0123456789ABCDEF'\nn = int(input())\nout = ''\nwhile True:\n    out = digits[n % {base}] + out\n"
        f"    n //= {base}\n    if n == 0:\n        break\nprint(out)\n",
        lambda r: str(r.choice([0, r.randint(1, 50), r.randint(50, 10**6)])),
    )


def capitalize_every(rng):
    k = rng.randint(2, 3)
    return ProblemSpec(
        f"A line of lowercase words is given. Print it with every {k}-th word (the {k}-th, the "
        f"{2 * k}-th, …) written in uppercase and the others unchanged, separated by single spaces.",
        f"words = input().split()\nprint(' '.join(w.upper() if (i + 1) % {k} == 0 else w for i, w in enumerate(words)))\n",
        lambda r: _sentence(r, (1, 8)),
    )


def ranking(rng):
    order = rng.choice(["score descending, then name ascending", "name ascending"])
    key = "key=lambda p: (-p[1], p[0])" if order.startswith("score") else "key=lambda p: p[0]"

    def make(r):
        names = r.sample(["ana", "bo", "cy", "dee", "ed", "flo", "gil", "ida", "jo"], r.randint(1, 6))
        return f"{len(names)}\n" + "\n".join(f"{n} {r.randint(0, 9)}" for n in names)

    return ProblemSpec(
        f"The first line holds n; each of the next n lines holds a name and an integer score. Print "
        f"the names sorted by {order}, one per line, each followed by a space and its score.",
        f"people = []\nfor _ in range(int(input())):\n    name, score = input().split()\n    people.append((name, int(score)))\n"
        f"for name, score in sorted(people, {key}):\n    print(name, score)\n",
        make,
    )


def mode_value(rng):
    tie = rng.choice(["smallest", "largest"])
    pick = "min" if tie == "smallest" else "max"
    return ProblemSpec(
        f"The first line holds n (n >= 1), the second n integers. Print the most frequent value; "
        f"if several are equally frequent, print the {tie} of them.",
        f"from collections import Counter\ninput()\ncounts = Counter(map(int, input().split()))\n"
        f"top = max(counts.values())\nprint({pick}(v for v, c in counts.items() if c == top))\n",
        lambda r: _numbers(r, 0, 6, (1, 12)),
    )


def balance_history(rng):
    start = rng.choice([0, 50, 100])
    return ProblemSpec(
        f"An account starts with balance {start}. The first line holds n; each of the next n lines "
        f"is 'deposit X' or 'withdraw X'. Print the final balance and the lowest balance reached "
        f"(including the start), separated by a space.",
        f"bal = low = {start}\nfor _ in range(int(input())):\n    op, x = input().split()\n"
        "    bal += int(x) if op == 'deposit' else -int(x)\n    low = min(low, bal)\nprint(bal, low)\n",
        lambda r: (
            lambda n: f"{n}\n" + "\n".join(f"{r.choice(['deposit', 'withdraw'])} {r.randint(1, 80)}" for _ in range(n))
        )(r.randint(1, 7)),
    )


def count_occurrences(rng):
    overlapping = rng.random() < 0.5
    return ProblemSpec(
        f"The first line is a pattern, the second a text (both lowercase letters). Print how many "
        f"times the pattern occurs in the text, counting {'overlapping' if overlapping else 'only non-overlapping (scanning left to right)'} occurrences.",
        "p = input().strip()\nt = input().strip()\n"
        + (
            "print(sum(1 for i in range(len(t) - len(p) + 1) if t[i:i + len(p)] == p))\n"
            if overlapping
            else "print(t.count(p))\n"
        ),
        lambda r: (lambda p: f"{p}\n" + "".join(r.choice([p, p[0], "b", p + p[-1]]) for _ in range(r.randint(1, 8))))(
            "".join(r.choice("ab") for _ in range(r.randint(1, 3)))
        ),
    )


def letter_frequency(rng):
    top = rng.randint(1, 3)
    return ProblemSpec(
        f"A line of lowercase text is given. Print the {top} most frequent letters (ignore spaces), "
        f"one per line as 'letter count', most frequent first and alphabetically among equals "
        f"(fewer lines if the text has fewer distinct letters).",
        f"from collections import Counter\ncounts = Counter(c for c in input() if c in '{string.ascii_lowercase}')\n"
        f"for letter, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:{top}]:\n    print(letter, n)\n",
        lambda r: _sentence(r, (1, 4)),
    )


def clock_time(rng):
    style = rng.choice(["colon", "units"])
    fmt = "f'{h}:{m:02d}:{s:02d}'" if style == "colon" else "f'{h}h {m}m {s}s'"
    shown = "H:MM:SS (minutes and seconds with two digits)" if style == "colon" else "'Hh Mm Ss' (for example 1h 2m 3s)"
    return ProblemSpec(
        f"Given a number of seconds (0 <= n < 10**7), print it as hours, minutes and seconds in the form {shown}.",
        f"n = int(input())\nh, rest = divmod(n, 3600)\nm, s = divmod(rest, 60)\nprint({fmt})\n",
        lambda r: str(r.choice([r.randint(0, 59), r.randint(60, 3599), r.randint(3600, 10**7 - 1)])),
    )


def rotate_string(rng):
    k = rng.randint(1, 5)
    direction = rng.choice(["left", "right"])
    expr = (
        f"s[{k} % len(s):] + s[:{k} % len(s)]"
        if direction == "left"
        else f"s[-({k} % len(s)) or len(s):] + s[:-({k} % len(s)) or len(s)]"
    )
    return ProblemSpec(
        f"A non-empty word is given. Rotate it {k} places to the {direction} (a character that "
        f"falls off one end comes back at the other; rotating by a multiple of the length changes "
        f"nothing) and print the result.",
        f"s = input().strip()\nprint({expr})\n",
        lambda r: r.choice(WORDS)[: r.randint(1, 7)],
    )


def running_extreme(rng):
    kind = rng.choice(["maximum", "minimum"])
    return ProblemSpec(
        f"The first line holds n, the second n integers. Print, for each position, the {kind} of "
        f"the integers up to and including it, all on one line separated by spaces.",
        f"input()\nbest = None\nout = []\nfor x in map(int, input().split()):\n"
        f"    best = x if best is None else {'max' if kind == 'maximum' else 'min'}(best, x)\n    out.append(best)\nprint(*out)\n",
        lambda r: _numbers(r, -50, 50, (1, 10)),
    )


def diagonal_sum(rng):
    which = rng.choice(["main", "anti", "both"])
    expr = {
        "main": "sum(m[i][i] for i in range(n))",
        "anti": "sum(m[i][n - 1 - i] for i in range(n))",
        "both": "sum(m[i][i] for i in range(n)) + sum(m[i][n - 1 - i] for i in range(n)) - (m[n // 2][n // 2] if n % 2 else 0)",
    }[which]
    said = {
        "main": "its main diagonal (top left to bottom right)",
        "anti": "its anti-diagonal (top right to bottom left)",
        "both": "both diagonals (an element on both is counted once)",
    }[which]
    return ProblemSpec(
        f"The first line holds n; the next n lines hold n integers each (a square matrix). Print the sum of {said}.",
        f"n = int(input())\nm = [list(map(int, input().split())) for _ in range(n)]\nprint({expr})\n",
        lambda r: (lambda n: f"{n}\n" + "\n".join(" ".join(str(r.randint(-9, 9)) for _ in range(n)) for _ in range(n)))(
            r.randint(1, 5)
        ),
    )


def power_sum_mod(rng):
    p, m = rng.randint(2, 4), rng.choice([7, 11, 101, 1000, 9973])
    return ProblemSpec(
        f"Given n (1 <= n <= 100000), print (1^{p} + 2^{p} + ... + n^{p}) modulo {m}.",
        f"n = int(input())\nprint(sum(pow(i, {p}, {m}) for i in range(1, n + 1)) % {m})\n",
        lambda r: str(r.choice([r.randint(1, 10), r.randint(10, 100000)])),
    )


def triangle_kind(rng):
    names = rng.choice(
        [
            ("equilateral", "isosceles", "scalene", "impossible"),
            ("E", "I", "S", "X"),
            ("three equal", "two equal", "all different", "none"),
        ]
    )
    eq, iso, sca, bad = names

    def make(r):
        sides = sorted(r.randint(1, 6) for _ in range(3))
        r.shuffle(sides)
        return " ".join(map(str, sides))

    return ProblemSpec(
        f"Three positive integers a b c (side lengths) are given on one line. Print {bad!r} if they "
        f"cannot form a triangle with positive area, else {eq!r} if all three are equal, {iso!r} "
        f"if exactly two are equal, and {sca!r} otherwise (print the word without quotes).",
        f"a, b, c = sorted(map(int, input().split()))\nif a + b <= c:\n    print({bad!r})\nelif a == c:\n    print({eq!r})\n"
        f"elif a == b or b == c:\n    print({iso!r})\nelse:\n    print({sca!r})\n",
        make,
    )


def interleave_words(rng):
    first = rng.choice(["first", "second"])
    a, b = ("x", "y") if first == "first" else ("y", "x")
    return ProblemSpec(
        f"Two lines of words are given. Print one line that alternates their words, starting with "
        f"the {first} line's first word; when one line runs out, the rest of the other follows.",
        f"x = input().split()\ny = input().split()\nout = []\nfor i in range(max(len(x), len(y))):\n"
        f"    if i < len({a}):\n        out.append({a}[i])\n    if i < len({b}):\n        out.append({b}[i])\nprint(' '.join(out))\n",
        lambda r: f"{_sentence(r, (1, 4))}\n{_sentence(r, (1, 4))}",
    )


def count_distinct(rng):
    fold = rng.random() < 0.5
    return ProblemSpec(
        f"A line of words is given. Print how many distinct words it holds"
        f"{', ignoring the difference between upper and lower case' if fold else ' (upper and lower case differ)'}.",
        f"print(len(set({'w.lower() for w in ' if fold else ''}input().split())))\n"
        if fold
        else "print(len(set(input().split())))\n",
        lambda r: " ".join(
            r.choice([w, w.capitalize(), w.upper()]) for w in (r.choice(WORDS[:6]) for _ in range(r.randint(1, 8)))
        ),
    )


FAMILIES: dict[str, Callable[[random.Random], ProblemSpec]] = {
    fn.__name__: fn
    for fn in (
        sum_divisible,
        long_words,
        kth_smallest_distinct,
        caesar_shift,
        run_length,
        balanced_brackets,
        gcd_lcm,
        fibonacci_mod,
        count_primes,
        reverse_each_word,
        second_largest,
        max_subarray,
        transpose,
        anagram_pairs,
        popcount,
        dedupe,
        fizzbuzz_words,
        digital_root,
        staircase,
        vowels_per_line,
        longest_run,
        pair_sums,
        to_base,
        capitalize_every,
        ranking,
        mode_value,
        balance_history,
        count_occurrences,
        letter_frequency,
        clock_time,
        rotate_string,
        running_extreme,
        diagonal_sum,
        power_sum_mod,
        triangle_kind,
        interleave_words,
        count_distinct,
    )
}
