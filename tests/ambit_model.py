"""An independent model of Ambit commands for the tests, written straight from docs/spec/ambit.md.

Rows are Python integers (bit j = row bit j); no code is shared with the package, so the
tests can hold the package's interpreter (which both executors use) to the specification.
"""

TABLE = {  # docs/spec/ambit.md, Ambit Table 1: address -> wordlines ("~" = n-wordline)
    "B0": ["T0"], "B1": ["T1"], "B2": ["T2"], "B3": ["T3"],
    "B4": ["DCC0"], "B5": ["~DCC0"], "B6": ["DCC1"], "B7": ["~DCC1"],
    "B8": ["~DCC0", "T0"], "B9": ["~DCC1", "T1"], "B10": ["T2", "T3"], "B11": ["T0", "T3"],
    "B12": ["T0", "T1", "T2"], "B13": ["T1", "T2", "T3"],
    "B14": ["DCC0", "T1", "T2"], "B15": ["DCC1", "T0", "T3"],
}  # fmt: skip


class IllegalCommand(Exception):
    pass


class IntModel:
    def __init__(self, n_bits, rows):
        self.mask = (1 << n_bits) - 1
        self.rows = dict(rows)  # name -> int, data rows and T0..T3, DCC0, DCC1
        self.sensed = None
        self.raised = []

    def wordlines(self, address):
        if address in TABLE:
            return TABLE[address]
        if address in ("C0", "C1"):
            return None
        if address not in self.rows:
            raise IllegalCommand(f"no row {address}")
        return [address]

    def read(self, wordline):
        if wordline.startswith("~"):
            return ~self.rows[wordline[1:]] & self.mask
        return self.rows[wordline]

    def write(self, wordline, value):
        if wordline.startswith("~"):
            self.rows[wordline[1:]] = ~value & self.mask
        else:
            self.rows[wordline] = value

    def activate(self, address):
        wordlines = self.wordlines(address)
        if self.sensed is None:
            if wordlines is None:
                self.sensed = self.mask if address == "C1" else 0
                wordlines = []
            elif len(wordlines) == 1:
                self.sensed = self.read(wordlines[0])
            elif len(wordlines) == 3:
                a, b, c = (self.read(w) for w in wordlines)
                self.sensed = (a & b) | (b & c) | (a & c)
                for w in wordlines:
                    self.write(w, self.sensed)
            else:
                raise IllegalCommand("two-row activation")
            self.raised = list(wordlines)
            return
        if wordlines is None:
            raise IllegalCommand("write to a constant row")
        for w in wordlines:
            if any(r.lstrip("~") == w.lstrip("~") and r != w for r in self.raised):
                raise IllegalCommand("both wordlines of a DCC")
        for w in wordlines:
            self.write(w, self.sensed)
        self.raised += wordlines

    def run(self, commands):
        """commands: list of tuples of address strings (2 = AAP, 1 = AP)."""
        for command in commands:
            for address in command:
                self.activate(address)
            self.sensed, self.raised = None, []
