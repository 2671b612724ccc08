#!/usr/bin/python3
"""Builds itn-cases.tsv: spoken → written cases for test/pipeline/itn.test.ts.

    /usr/bin/python3 test/pipeline/data/make-itn-cases.py > test/pipeline/data/itn-cases.tsv

Spoken forms come from Debian's python3-num2words (an independent, well-kept number speller), with
fixed seeds; hyphens become spaces in most rows (recognizers output separate words) and stay in
some (Whisper-style "twenty-five"). Written forms follow the style documented in
src/pipeline/text/itn.ts. Hand-written rows cover dates, times and negatives (spans that must stay).
"""
import random
from num2words import num2words

rnd = random.Random(11)
rows = []


def spoken(n, **kw):
    s = num2words(n, **kw).replace(',', '')
    return s if rnd.random() < 0.2 else s.replace('-', ' ')


def group(n):
    return f'{n:,}'


def add(cls, s, w):
    rows.append((cls, s, w))


# cardinals (10 and up; AP style keeps one..nine as words)
nums = [rnd.randint(10, 99) for _ in range(12)] + [rnd.randint(100, 999) for _ in range(14)] + \
       [rnd.randint(1000, 99999) for _ in range(12)] + [rnd.randint(100000, 9999999) for _ in range(6)]
for n in nums:
    add('cardinal', f'there were {spoken(n)} people', f'there were {group(n)} people')
for m in [2, 5, 40]:
    add('cardinal', f'they raised {spoken(m)} million', f'they raised {m} million')
for n in [10, 11, 12, 100, 1000]:
    add('cardinal', f'we counted {spoken(n)} boxes', f'we counted {group(n)} boxes')

# ordinals (10th and up; first..ninth stay words outside dates)
for n in [rnd.randint(10, 120) for _ in range(26)] + [21, 22, 23, 101, 111, 112]:
    add('ordinal', f'the {spoken(n, to="ordinal")} floor', f'the {n}{"th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")} floor')

# decimals
for _ in range(20):
    whole = rnd.choice([0, 1, 2, 3, 7, 12, 25, 99, 140])
    frac = str(rnd.randint(1, 99))
    words = ' '.join(num2words(int(d)) for d in frac)
    add('decimal', f'the value is {spoken(whole)} point {words}', f'the value is {whole}.{frac}')

# percentages
for _ in range(20):
    n = rnd.randint(1, 100)
    if rnd.random() < 0.25:
        d = rnd.randint(1, 9)
        add('percent', f'about {spoken(n)} point {num2words(d)} percent', f'about {n}.{d}%')
    else:
        add('percent', f'about {spoken(n)} percent', f'about {n}%')

# money
for _ in range(14):
    n = rnd.randint(1, 5000)
    add('money', f'it costs {spoken(n)} dollars', f'it costs ${group(n)}')
for _ in range(8):
    n, c = rnd.randint(1, 99), rnd.randint(1, 99)
    add('money', f'it costs {spoken(n)} dollars and {spoken(c)} cents', f'it costs ${n}.{c:02d}')
for _ in range(4):
    c = rnd.randint(10, 99)
    add('money', f'it costs {spoken(c)} cents', f'it costs $0.{c:02d}')
for _ in range(4):
    n = rnd.randint(2, 900)
    add('money', f'it costs {spoken(n)} euros', f'it costs €{group(n)}')
add('money', 'a budget of ten million dollars', 'a budget of $10 million')
add('money', 'a fine of five hundred pounds sterling', 'a fine of £500')
add('money', 'it costs one dollar', 'it costs $1')

# measures: SI/data symbols, imperial words
units = [('kilometers', 'km'), ('meters', 'm'), ('centimeters', 'cm'), ('kilograms', 'kg'), ('grams', 'g'), ('liters', 'L'),
         ('gigabytes', 'GB'), ('megabytes', 'MB'), ('miles', 'miles'), ('feet', 'feet'), ('degrees', '°'),
         ('miles per hour', 'mph'), ('degrees celsius', '°C'), ('degrees fahrenheit', '°F'), ('kilohertz', 'kHz'), ('watts', 'W')]
for _ in range(26):
    n = rnd.randint(1, 500)
    u, sym = rnd.choice(units)
    written = f'{group(n)}{sym}' if sym == '°' else f'{group(n)} {sym}'
    add('measure', f'it is {spoken(n)} {u}', f'it is {written}')

# years in a year context
for y in [rnd.randint(1100, 1999) for _ in range(18)] + [rnd.randint(2000, 2039) for _ in range(8)] + [1905, 1900, 2000]:
    ctx = rnd.choice(['in', 'since', 'by', 'until'])
    if y < 1300 and ctx in ('by', 'until'):
        ctx = 'in'  # "until eleven thirty" is a clock time (see the rows below)
    add('year', f'{ctx} {num2words(y, to="year").replace("-", " ")}', f'{ctx} {y}')
add('year', 'in the nineteen sixties', 'in the 1960s')
add('year', 'in fourteen sixty five', 'in 1465')
add('year', 'in eleven thirty six', 'in 1136')
add('time', 'until eleven thirty', 'until 11:30')  # hour-shaped first group after a time cue: a time

# clock times
for _ in range(20):
    h = rnd.randint(1, 12)
    m = rnd.choice([0, 5, 10, 15, 20, 30, 45, 50, 7, 59])
    ap = rnd.choice(['am', 'pm', 'a m', 'p m'])
    mins = '' if m == 0 else (f' oh {num2words(m)}' if m < 10 else f' {spoken(m)}')
    add('time', f'call me at {num2words(h)}{mins} {ap}', f'call me at {h}{"" if m == 0 else f":{m:02d}"} {ap.replace(" ", "").upper()}')
add('time', 'see you at ten fifteen', 'see you at 10:15')
add('time', 'the meeting is at three thirty', 'the meeting is at 3:30')
add('time', 'it starts at seven o\'clock', 'it starts at 7 o\'clock')

# dates
months = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december']
for _ in range(16):
    mo = rnd.choice(months)
    d = rnd.randint(1, 28)
    if rnd.random() < 0.5:
        y = rnd.randint(1950, 2030)
        add('date', f'on {mo} {num2words(d, to="ordinal")} {num2words(y, to="year").replace("-", " ")}', f'on {mo} {d}, {y}')
    else:
        add('date', f'on {mo} {num2words(d, to="ordinal")}', f'on {mo} {d}')
add('date', 'on june twelve', 'on june 12')
add('date', 'the fifth of may', 'the 5th of may')
add('date', 'the twenty first of december', 'the 21st of december')

# telephone numbers: digit by digit
dw = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']
for _ in range(10):
    d = str(rnd.randint(2, 9)) + ''.join(str(rnd.randint(0, 9)) for _ in range(9))
    add('telephone', 'call ' + ' '.join(dw[int(c)] for c in d), f'call {d[:3]}-{d[3:6]}-{d[6:]}')
for _ in range(5):
    d = str(rnd.randint(2, 9)) + ''.join(str(rnd.randint(0, 9)) for _ in range(6))
    add('telephone', 'call ' + ' '.join(dw[int(c)] for c in d), f'call {d[:3]}-{d[3:]}')
add('telephone', 'call one eight zero zero five five five one two one two', 'call 1-800-555-1212')

# digit strings (cards, codes)
for _ in range(6):
    d = '4' + ''.join(str(rnd.randint(0, 9)) for _ in range(15))
    add('digits', 'my card is ' + ' '.join(dw[int(c)] for c in d), f'my card is {d}')
for _ in range(6):
    d = ''.join(str(rnd.randint(1, 9)) for _ in range(rnd.choice([4, 5, 6])))
    add('digits', 'the code is ' + ' '.join(dw[int(c)] for c in d), f'the code is {d}')
add('digits', 'press one', 'press 1')
add('digits', 'dial nine', 'dial 9')
add('digits', 'extension four two', 'extension 42')
add('digits', 'room double five', 'room 55')
add('digits', 'four one one one', '4111')

# mixed, hand-written
add('year', 'from nineteen ninety to two thousand', 'from 1990 to 2000')
add('percent', 'a hundred percent', '100%')
add('decimal', 'one point five million people', '1.5 million people')
add('digits', 'room two oh five', 'room 205')
add('date', 'on the fourth of july', 'on the 4th of july')
add('money', 'twenty dollars off', '$20 off')
add('cardinal', 'one thousand and one nights', '1,001 nights')

# negatives: stay as spoken
for s in ['one of them', 'a one off deal', 'a one-off deal', 'no one came', 'the one I want', 'one day we will go',
          'first of all', 'wait a second', 'the second time', 'I have two options', 'three people came', 'someone called',
          'twenty twenty', 'fourteen sixty five', 'you may go', 'march on', 'may I help you', 'we will march forward',
          'it was a hundred', 'hundreds of people', 'thousands of times', 'one by one', 'one or two', 'the ten commandments were',
          'he is one', 'it is one thing', 'every one of us', 'in a minute', 'second hand', 'a second opinion',
          'at once', 'on point', 'one two', 'five four three', 'the fourth wall', 'a quarter past', 'half an hour',
          'nine lives', 'one another', 'oh no', 'the eighties were fun', 'sixty five', 'nineteen oh five',
          'call me at three', 'in the year', 'at one point', 'open twenty four seven', 'two or three', 'first second third',
          'quarter past three', 'five by five', 'it was a million']:
    w = s
    if s in ('sixty five',):
        w = '65'
    add('negative' if w == s else 'cardinal', s, w)

print('class\tspoken\twritten')
for c, s, w in rows:
    print(f'{c}\t{s}\t{w}')
