from ninja import Schema


class SchoolOut(Schema):
    id: int
    code: str
    name: str
    school_type: str
    operator: str
    division_code: str
    area_code: str
    managing_level: str
    listed_separately: bool
    state: str
    successor_id: int | None = None
    address: str


class SchoolIn(Schema):
    code: str
    name: str
    school_type: str
    operator: str = "1"
    division_code: str = ""
    managing_level: str = "county"
    address: str = ""


class SchoolPatch(Schema):
    name: str | None = None
    operator: str | None = None
    managing_level: str | None = None
    address: str | None = None


class SchoolPage(Schema):
    items: list[SchoolOut]
    next_cursor: int | None
