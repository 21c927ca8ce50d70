"""Templates of small stdin programs for the abduction set, written for rldojo.

Each template draws its constants (and a valid input) from an rng, so one template yields many
different programs. Inputs never have trailing spaces or blank lines at either end, since the
answer parser removes those. Outputs are not computed here: the builder runs each program in the
sandbox.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Template = Callable[[random.Random], tuple[str, str]]

WORDS = (
    "apple river stone cloud maple tiger lemon piano rocket garden silver bridge candle forest "
    "planet violet window meadow copper island falcon harbor orange puzzle thunder velvet castle "
    "anchor marble basket jungle lantern mirror nectar oyster pepper quartz saddle tulip walnut"
).split()


def _word(rng: random.Random) -> str:
    return rng.choice(WORDS)


def _ints(rng: random.Random, n: int, low: int, high: int) -> list[int]:
    return [rng.randint(low, high) for _ in range(n)]


def _line(values: list) -> str:
    return " ".join(map(str, values))


# ---- arithmetic ----------------------------------------------------------------------------------


def linear(rng):
    a, b = rng.randint(2, 9), rng.randint(-20, 20)
    return f"x = int(input())\nprint(x * {a} + {b})\n", f"{rng.randint(-50, 200)}"


def two_numbers(rng):
    c = rng.randint(1, 9)
    program = f"a, b = map(int, input().split())\nprint(a * b - a, a + b + {c})\n"
    return program, _line(_ints(rng, 2, 1, 60))


def divmod_pair(rng):
    m = rng.randint(3, 13)
    return f"n = int(input())\nq, r = divmod(n, {m})\nprint(q, r)\nprint(q * r)\n", f"{rng.randint(20, 999)}"


def digit_sum(rng):
    c = rng.randint(2, 7)
    program = f"n = input()\ntotal = sum(int(d) for d in n)\nprint(total * {c})\nprint(len(n))\n"
    return program, str(rng.randint(100, 10**7))


def quadratic(rng):
    b, c = rng.randint(-6, 6), rng.randint(-30, 30)
    program = f"x = int(input())\ny = x * x + ({b}) * x + ({c})\nprint(y if y >= 0 else -y)\n"
    return program, str(rng.randint(-25, 25))


def mean_and_range(rng):
    c = rng.randint(1, 9)
    program = (
        "values = list(map(int, input().split()))\n"
        f"print(sum(values) // len(values) + {c}, max(values) - min(values))\n"
    )
    return program, _line(_ints(rng, rng.randint(3, 7), 0, 90))


# ---- strings -------------------------------------------------------------------------------------


def reverse_upper(rng):
    case = rng.choice(["upper", "lower", "swapcase", "title", "capitalize"])
    step = rng.choice([-1, -2, 2])
    program = f"s = input()\nprint(s[::{step}].{case}())\nprint(len(s))\n"
    return program, rng.choice([_word(rng), _word(rng).capitalize()]) + rng.choice(["", _word(rng)])


def caesar(rng):
    k = rng.randint(1, 25)
    program = f"s = input()\nprint(''.join(chr((ord(c) - 97 + {k}) % 26 + 97) if c.islower() else c for c in s))\n"
    return program, " ".join(_word(rng) for _ in range(rng.randint(1, 3)))


def vowel_count(rng):
    vowels = rng.choice(["aeiou", "aei", "ou", "aeiouy", "rst", "lmn", "ae"])
    program = f"s = input()\nn = sum(1 for c in s if c in '{vowels}')\nprint(n, len(s) - n)\n"
    return program, " ".join(_word(rng) for _ in range(rng.randint(1, 4)))


def replace_count(rng):
    old, new = rng.choice(["a", "e", "o", "an", "er"]), rng.choice(["*", "#", "XY", ""])
    program = f"s = input()\nt = s.replace('{old}', '{new}')\nprint(t)\nprint(s.count('{old}'))\n"
    return program, " ".join(_word(rng) for _ in range(rng.randint(2, 4)))


def word_order(rng):
    sep = rng.choice(["-", "+", "/", "::", ", "])
    order = rng.choice(["reversed(words)", "sorted(words)", "words[::2]", "sorted(words, key=len)"])
    program = f"words = input().split()\nprint('{sep}'.join({order}))\nprint(len(words))\n"
    return program, " ".join(_word(rng) for _ in range(rng.randint(2, 5)))


def palindrome_check(rng):
    word = _word(rng)
    text = word + word[::-1] if rng.random() < 0.5 else word
    yes, no = rng.choice([("yes", "no"), ("Y", "N"), ("True", "False"), ("same", "different")])
    ends = rng.choice(["s[0] + s[-1]", "s[-1] * 2", "s[len(s) // 2]", "s[:2]"])
    program = f"s = input().strip()\nprint('{yes}' if s == s[::-1] else '{no}')\nprint({ends})\n"
    return program, text


def char_histogram(rng):
    t = rng.randint(0, 1)
    program = (
        "s = input()\n"
        "counts = {}\n"
        "for c in s:\n"
        "    if c.isalpha():\n"
        "        counts[c] = counts.get(c, 0) + 1\n"
        "for c in sorted(counts):\n"
        f"    if counts[c] > {t}:\n"
        "        print(c, counts[c])\n"
    )
    return program, " ".join(_word(rng) for _ in range(rng.randint(2, 4)))


# ---- lists ---------------------------------------------------------------------------------------


def sort_desc(rng):
    n = rng.randint(3, 8)
    key = rng.choice(["", ", key=abs", ", key=lambda v: v % 10", ", key=lambda v: -v"])
    reverse = rng.choice(["True", "False"])
    program = f"n = int(input())\nxs = list(map(int, input().split()))\nprint(*sorted(xs{key}, reverse={reverse}))\n"
    return program, f"{n}\n{_line(_ints(rng, n, -30, 99))}"


def even_odd(rng):
    m = rng.randint(2, 6)
    program = (
        "xs = list(map(int, input().split()))\n"
        f"hits = [x for x in xs if x % {m} == 0]\n"
        "print(sum(hits), len(xs) - len(hits))\n"
    )
    return program, _line(_ints(rng, rng.randint(4, 9), 1, 50))


def prefix_sums(rng):
    start, update = rng.choice(
        [
            ("0", "total + x"),
            ("1", "total * x % 1000"),
            ("-100", "max(total, x)"),
            ("0", "total * 2 + x"),
            ("0", "abs(total - x)"),
        ]
    )
    program = (
        "xs = list(map(int, input().split()))\n"
        f"total = {start}\n"
        "out = []\n"
        "for x in xs:\n"
        f"    total = {update}\n"
        "    out.append(total)\n"
        "print(*out)\n"
    )
    return program, _line(_ints(rng, rng.randint(3, 7), -9, 20))


def argmax(rng):
    pick, offset = rng.choice(["max", "min"]), rng.randint(0, 5)
    program = f"xs = list(map(int, input().split()))\nprint(xs.index({pick}(xs)) + {offset}, max(xs) - min(xs))\n"
    return program, _line(_ints(rng, rng.randint(4, 8), 0, 70))


def threshold_filter(rng):
    t = rng.randint(10, 40)
    program = (
        f"xs = [int(v) for v in input().split()]\nbig = [x for x in xs if x > {t}]\nprint(len(big))\nprint(*big)\n"
    )
    return program, _line(_ints(rng, rng.randint(4, 9), 0, 60))


def rotate(rng):
    k = rng.randint(1, 4)
    program = f"xs = input().split()\nk = {k} % len(xs)\nprint(' '.join(xs[k:] + xs[:k]))\n"
    return program, " ".join(_word(rng)[: rng.randint(2, 5)] for _ in range(rng.randint(3, 6)))


def pair_products(rng):
    op, pick = rng.choice(["*", "+", "-"]), rng.choice(["max", "min"])
    program = (
        "xs = list(map(int, input().split()))\n"
        f"best = {pick}(xs[i] {op} xs[i + 1] for i in range(len(xs) - 1))\n"
        "print(best)\n"
    )
    return program, _line(_ints(rng, rng.randint(3, 7), -12, 12))


# ---- loops ---------------------------------------------------------------------------------------


def collatz(rng):
    m = rng.randint(5, 50)
    program = (
        "n = int(input())\nsteps = 0\npeak = n\n"
        "while n != 1:\n"
        "    n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
        "    peak = max(peak, n)\n"
        "    steps += 1\n"
        f"print(steps, peak % {m})\n"
    )
    return program, str(rng.randint(2, 300))


def sum_to_n(rng):
    m = rng.randint(50, 1000)
    program = (
        f"n = int(input())\ntotal = 0\nfor i in range(1, n + 1):\n    total = (total + i * i) % {m}\nprint(total)\n"
    )
    return program, str(rng.randint(1, 200))


def fib_like(rng):
    c, d = rng.randint(1, 3), rng.randint(0, 2)
    program = (
        "a, b, n = map(int, input().split())\nseq = [a, b]\n"
        "while len(seq) < n:\n"
        f"    seq.append(seq[-1] + {c} * seq[-2] - {d})\n"
        "print(*seq[:n])\n"
    )
    return program, _line([rng.randint(0, 5), rng.randint(1, 7), rng.randint(3, 9)])


def times_table(rng):
    k = rng.randint(4, 9)
    program = f"n = int(input())\nprint(*[n * i for i in range(1, {k} + 1)])\n"
    return program, str(rng.randint(2, 25))


def halvings(rng):
    d = rng.randint(2, 7)
    program = f"n = int(input())\ncount = 0\nwhile n > 1:\n    n //= {d}\n    count += 1\nprint(count, n)\n"
    return program, str(rng.randint(1, 10**6))


def digit_reverse_loop(rng):
    m = rng.randint(3, 19)
    program = f"n = int(input())\nr = 0\nwhile n > 0:\n    r = r * 10 + n % 10\n    n //= 10\nprint(r, r % {m})\n"
    return program, str(rng.randint(10, 99999))


# ---- conditionals ---------------------------------------------------------------------------------


def grades(rng):
    a, b, c = sorted(rng.sample(range(40, 95), 3), reverse=True)
    program = (
        "scores = list(map(int, input().split()))\n"
        "for s in scores:\n"
        f"    if s >= {a}:\n        print('A')\n"
        f"    elif s >= {b}:\n        print('B')\n"
        f"    elif s >= {c}:\n        print('C')\n"
        "    else:\n        print('F')\n"
    )
    return program, _line(_ints(rng, rng.randint(2, 5), 20, 100))


def fizz_variant(rng):
    a, b = rng.sample([2, 3, 4, 5, 7], 2)
    wa, wb = rng.sample(["Fizz", "Buzz", "Pop", "Zap", "Bang"], 2)
    program = (
        "n = int(input())\nfor i in range(1, n + 1):\n"
        f"    out = ('{wa}' if i % {a} == 0 else '') + ('{wb}' if i % {b} == 0 else '')\n"
        "    print(out or i)\n"
    )
    return program, str(rng.randint(5, 15))


def classify_numbers(rng):
    pivot, m = rng.randint(-3, 3), rng.randint(2, 4)
    program = (
        "for v in input().split():\n"
        "    x = int(v)\n"
        f"    if x == {pivot}:\n        print('pivot')\n"
        f"    elif x > {pivot}:\n        print('above' if x % {m} == 0 else 'above odd')\n"
        "    else:\n        print('below')\n"
    )
    return program, _line(_ints(rng, rng.randint(2, 5), -9, 9))


def custom_leap(rng):
    a, b = rng.choice([(4, 100), (3, 30), (5, 50), (6, 60)])
    program = (
        "y = int(input())\n"
        f"if y % {b} == 0:\n    print('special' if y % {b * 4} == 0 else 'common')\n"
        f"elif y % {a} == 0:\n    print('special')\n"
        "else:\n    print('common')\n"
        # The century makes the answer a number to work out, not one of two words to guess.
        "print(y // 100)\n"
    )
    return program, str(rng.randint(1, 3000))


def clamp(rng):
    low, high = sorted(rng.sample(range(-10, 30), 2))
    # Clamping alone is idempotent (its output, fed back, prints itself); the count of clamped
    # values is what the output tells about the input.
    program = (
        "xs = list(map(int, input().split()))\n"
        f"print(*[min(max(x, {low}), {high}) for x in xs])\n"
        f"print(sum(1 for x in xs if not {low} <= x <= {high}))\n"
    )
    return program, _line(_ints(rng, rng.randint(3, 6), -25, 45))


# ---- several input lines ------------------------------------------------------------------------


def top_scorer(rng):
    cmp = rng.choice([">", ">=", "<", "<="])
    n = rng.randint(2, 5)
    names = rng.sample(["ana", "ben", "cleo", "dev", "eli", "fay", "gus", "hana"], n)
    lines = [f"{name} {rng.randint(0, 100)}" for name in names]
    program = (
        f"n = int(input())\nbest_name, best = '', {'-1' if '>' in cmp else '101'}\n"
        "for _ in range(n):\n"
        "    name, score = input().split()\n"
        f"    if int(score) {cmp} best:\n"
        "        best_name, best = name, int(score)\n"
        "print(best_name, best)\n"
    )
    return program, "\n".join([str(n), *lines])


def matrix_sums(rng):
    r, c = rng.randint(2, 4), rng.randint(2, 4)
    rows = [_line(_ints(rng, c, 0, 9)) for _ in range(r)]
    agg = rng.choice(["sum", "max", "min"])
    program = (
        "r, c = map(int, input().split())\n"
        "m = [list(map(int, input().split())) for _ in range(r)]\n"
        f"print(*[{agg}(row) for row in m])\n"
        f"print(*[{agg}(m[i][j] for i in range(r)) for j in range(c)])\n"
    )
    return program, "\n".join([f"{r} {c}", *rows])


def common_letters(rng):
    op = rng.choice(["&", "|", "-", "^"])
    program = f"a = set(input())\nb = set(input())\nprint(''.join(sorted((a {op} b) - {{' '}})) or 'none')\n"
    return program, f"{_word(rng)}\n{_word(rng)}"


def accumulator(rng):
    ops = [rng.choice(["add", "sub", "mul"]) + f" {rng.randint(1, 9)}" for _ in range(rng.randint(2, 6))]
    start = rng.randint(0, 10)
    program = (
        "acc = int(input())\nn = int(input())\n"
        "for _ in range(n):\n"
        "    op, v = input().split()\n"
        "    v = int(v)\n"
        "    if op == 'add':\n        acc += v\n"
        "    elif op == 'sub':\n        acc -= v\n"
        "    else:\n        acc *= v\n"
        f"print(acc % {rng.randint(7, 97)})\n"
    )
    return program, "\n".join([str(start), str(len(ops)), *ops])


def key_value_lookup(rng):
    keys = rng.sample(["red", "blue", "green", "gold", "gray", "pink", "teal"], rng.randint(2, 5))
    pairs = [f"{k}={rng.randint(1, 99)}" for k in keys]
    query = rng.choice(keys)
    program = (
        "n = int(input())\ntable = {}\n"
        "for _ in range(n):\n"
        "    k, v = input().split('=')\n"
        "    table[k] = int(v)\n"
        "q = input()\n"
        f"print(table.get(q, -1) * {rng.randint(2, 9)}, len(table))\n"
    )
    return program, "\n".join([str(len(pairs)), *pairs, query])


def stack_machine(rng):
    ops = []
    depth = 0
    for _ in range(rng.randint(3, 8)):
        if depth and rng.random() < 0.35:
            ops.append("pop")
            depth -= 1
        else:
            ops.append(f"push {rng.randint(1, 20)}")
            depth += 1
    program = (
        "stack = []\n"
        "for _ in range(int(input())):\n"
        "    parts = input().split()\n"
        "    if parts[0] == 'push':\n        stack.append(int(parts[1]))\n"
        "    else:\n        stack.pop()\n"
        f"print({rng.choice(['*stack if stack else', 'sum(stack) if stack else', 'len(stack), max(stack) if stack else', '*stack[::-1] if stack else'])} 'empty')\n"
    )
    return program, "\n".join([str(len(ops)), *ops])


def line_lengths(rng):
    lines = [" ".join(_word(rng) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(2, 4))]
    program = (
        "import sys\n"
        "lines = sys.stdin.read().split('\\n')\n"
        "lines = [l for l in lines if l]\n"
        f"print(*[len(l) {rng.choice(['', '% 5', '* 2', '- l.count(chr(32))'])} for l in lines])\n"
        f"print({rng.choice(['max', 'min'])}(lines, key=len))\n"
    )
    return program, "\n".join(lines)


# ---- more, with wide parameter ranges --------------------------------------------------------------


def bit_ops(rng):
    k = rng.randint(1, 63)
    program = f"a, b = map(int, input().split())\nprint(a & b, a | b, a ^ {k})\n"
    return program, _line(_ints(rng, 2, 0, 255))


def slice_repeat(rng):
    i, j, r = rng.randint(0, 2), rng.randint(3, 6), rng.randint(1, 3)
    program = f"s = input()\npart = s[{i}:{j}]\nprint(part * {r})\nprint(len(part))\n"
    return program, _word(rng) + _word(rng)


def count_in_range(rng):
    low = rng.randint(-10, 20)
    high = low + rng.randint(3, 30)
    program = (
        f"xs = list(map(int, input().split()))\nprint(sum(1 for x in xs if {low} <= x <= {high}))\nprint(len(xs))\n"
    )
    return program, _line(_ints(rng, rng.randint(3, 9), -20, 60))


def weighted_sum(rng):
    w = rng.randint(0, 5)
    program = f"xs = list(map(int, input().split()))\nprint(sum((i + {w}) * x for i, x in enumerate(xs)))\n"
    return program, _line(_ints(rng, rng.randint(2, 6), -9, 30))


def base_digits(rng):
    base = rng.randint(2, 9)
    program = (
        "n = int(input())\ndigits = []\n"
        "while n > 0:\n"
        f"    digits.append(n % {base})\n"
        f"    n //= {base}\n"
        "print(''.join(map(str, reversed(digits))) or '0')\n"
    )
    return program, str(rng.randint(0, 5000))


def gcd_loop(rng):
    c = rng.randint(1, 12)
    program = "a, b = map(int, input().split())\nwhile b:\n    a, b = b, a % b\n" + f"print(a * {c})\n"
    return program, _line(_ints(rng, 2, 1, 400))


def triangle_pattern(rng):
    ch, step = rng.choice("*#+o"), rng.randint(1, 3)
    program = f"n = int(input())\nfor i in range(1, n + 1):\n    print('{ch}' * (i * {step}))\n"
    return program, str(rng.randint(1, 6))


def divisible_pairs(rng):
    k = rng.randint(2, 12)
    program = (
        "n, m = map(int, input().split())\ncount = 0\n"
        "for i in range(1, n + 1):\n"
        "    for j in range(1, m + 1):\n"
        f"        if (i * j) % {k} == 0:\n"
        "            count += 1\n"
        "print(count)\n"
    )
    return program, _line(_ints(rng, 2, 1, 15))


def zip_strings(rng):
    glue = rng.choice(["", "-", "."])
    tail = rng.choice(["a[len(b):] + b[len(a):]", "''", "str(len(a) - len(b))"])
    program = f"a = input()\nb = input()\nprint('{glue}'.join(x + y for x, y in zip(a, b)) + {tail})\n"
    return program, f"{_word(rng)}\n{_word(rng)}"


def bank_fees(rng):
    fee = rng.randint(1, 5)
    ops = [f"{rng.choice('dw')} {rng.randint(1, 50)}" for _ in range(rng.randint(1, 6))]
    program = (
        "balance = int(input())\n"
        "for _ in range(int(input())):\n"
        "    kind, amount = input().split()\n"
        "    if kind == 'd':\n        balance += int(amount)\n"
        f"    else:\n        balance -= int(amount) + {fee}\n"
        "print(balance)\n"
    )
    return program, "\n".join([str(rng.randint(0, 100)), str(len(ops)), *ops])


TEMPLATES: dict[str, Template] = {
    fn.__name__: fn
    for fn in (
        linear,
        two_numbers,
        divmod_pair,
        digit_sum,
        quadratic,
        mean_and_range,
        reverse_upper,
        caesar,
        vowel_count,
        replace_count,
        word_order,
        palindrome_check,
        char_histogram,
        sort_desc,
        even_odd,
        prefix_sums,
        argmax,
        threshold_filter,
        rotate,
        pair_products,
        collatz,
        sum_to_n,
        fib_like,
        times_table,
        halvings,
        digit_reverse_loop,
        grades,
        fizz_variant,
        classify_numbers,
        custom_leap,
        clamp,
        top_scorer,
        matrix_sums,
        common_letters,
        accumulator,
        key_value_lookup,
        stack_machine,
        line_lengths,
        bit_ops,
        slice_repeat,
        count_in_range,
        weighted_sum,
        base_digits,
        gcd_loop,
        triangle_pattern,
        divisible_pairs,
        zip_strings,
        bank_fees,
    )
}
