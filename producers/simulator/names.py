"""Synthetic names, phone numbers and credit codes, unique within a year so that no two
background cases share an organisation (which would plant a group nobody intended)."""

from __future__ import annotations

import random

from schemas.validators import USCC_CHARS, credit_code_check_char

SURNAMES = "王陈李张林黄周吴徐郑潘金叶胡朱杨项谢"
GIVEN = ("建国", "海燕", "志强", "丽娟", "伟", "静", "小明", "秀英", "国华", "美玲", "晓东", "琳")
FIRMS = ("建筑劳务", "建设工程", "机械制造", "鞋业", "阀门", "眼镜", "服装", "电器", "包装", "装饰")
PLACES = ("温州", "龙湾", "浙江", "瓯海", "永嘉", "瑞安", "乐清")
WORDS = "宏达鑫盛恒通华瑞永安海天金鼎卓越东方新兴博远佳和立信正泰"


class Names:
    """Unique organisation names and credit codes, so no two background cases share one."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.codes: set[str] = set()
        self.names: set[str] = set()

    def credit_code(self) -> str:
        while True:
            body = "91330303" + "".join(self.rng.choice(USCC_CHARS) for _ in range(9))
            code = body + credit_code_check_char(body)
            if code not in self.codes:
                self.codes.add(code)
                return code

    def firm(self, kind: str | None = None) -> str:
        while True:
            a, b = self.rng.sample(WORDS, 2)
            place = self.rng.choice(PLACES)
            name = f"{place}{a}{b}{kind or self.rng.choice(FIRMS)}有限公司"
            if name not in self.names:
                self.names.add(name)
                return name

    def person(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def phone(self) -> str:
        return (
            "1" + self.rng.choice("3589") + "".join(str(self.rng.randrange(10)) for _ in range(9))
        )
