"""Parsing, formatting, converting, shifting and comparing dates and times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, model_validator

from flowforge.connectors.data._common import _invalid, _Params
from flowforge.connectors.sdk import Context


class DatetimeParams(_Params):
    operation: Literal["parse", "format", "convert", "add", "subtract", "difference"] = Field(
        "parse", description="difference: from 'value' to 'other'"
    )
    value: str | float = Field(
        description="ISO 8601 text, text in 'input_format', 'now', or Unix seconds",
        examples=["2026-03-29T01:30:00+01:00", "now", 1767225600],
    )
    input_format: str | None = Field(
        None, max_length=200, description="A strftime format for 'value' (and 'other')"
    )
    timezone: str = Field(
        "UTC",
        max_length=100,
        description="The zone of times written without one (IANA name like Europe/Paris, or +02:00)",
    )
    to_timezone: str | None = Field(None, max_length=100, description="Convert the result to it")
    output_format: str | None = Field(
        None, max_length=200, description="A strftime format for 'result'; ISO 8601 if absent"
    )
    other: str | float | None = Field(None, description="difference: the second time")
    years: int = Field(0, ge=-9999, le=9999, description="add/subtract: calendar years")
    months: int = Field(0, ge=-120_000, le=120_000, description="add/subtract: calendar months")
    weeks: float = Field(0, ge=-600_000, le=600_000)
    days: float = Field(0, ge=-4_000_000, le=4_000_000)
    hours: float = Field(0, ge=-1e8, le=1e8)
    minutes: float = Field(0, ge=-1e10, le=1e10)
    seconds: float = Field(0, ge=-1e12, le=1e12)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if isinstance(self.value, str) and len(self.value) > 200:
            raise ValueError("value: at most 200 characters")
        if isinstance(self.other, str) and len(self.other) > 200:
            raise ValueError("other: at most 200 characters")
        if self.operation == "difference" and self.other is None:
            raise ValueError("difference needs 'other'")
        if self.operation == "convert" and self.to_timezone is None:
            raise ValueError("convert needs 'to_timezone'")
        return self


class Difference(BaseModel):
    seconds: float = Field(description="From 'value' to 'other'; negative when 'other' is earlier")
    minutes: float
    hours: float
    days: float
    weeks: float
    text: str = Field(description="As [-]D days, HH:MM:SS")


class DatetimeResult(BaseModel):
    result: str = Field(description="The time in 'output_format', or ISO 8601")
    iso: str
    timestamp: float = Field(description="Unix seconds")
    timezone: str
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    microsecond: int
    weekday: int = Field(description="1 is Monday, 7 is Sunday")
    day_of_year: int
    difference: Difference | None = None


_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def _zone(name: str, field: str) -> tzinfo:
    if name.upper() in ("UTC", "Z"):
        return UTC
    match = _OFFSET.fullmatch(name)
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta >= timedelta(hours=24):
            raise _invalid(f"{field}: {name!r} is not a UTC offset")
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(
            f"{field}: {name!r} is not a known time zone (use an IANA name like Europe/Paris)"
        ) from None


def _parse(value: str | float, field: str, params: DatetimeParams, zone: tzinfo) -> datetime:
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        text = value.strip()
        if text.lower() == "now":
            return datetime.now(UTC)
        if params.input_format is not None:
            parsed = datetime.strptime(text, params.input_format)
        else:
            parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError) as exc:
        how = f"the format {params.input_format!r}" if params.input_format else "ISO 8601"
        raise _invalid(f"{field}: {value!r} is not a time in {how} ({exc})") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    for day in range(moment.day, 27, -1):  # the 31st of a 30-day month is its 30th
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month + 1, day=min(moment.day, 28))


def _zone_name(moment: datetime) -> str:
    zone = moment.tzinfo
    if isinstance(zone, ZoneInfo):
        return zone.key
    offset = moment.strftime("%z")  # +0200, or +020030 with seconds
    return "UTC" if offset in ("", "+0000") else f"{offset[:3]}:{offset[3:5]}"


def _difference(seconds: float) -> Difference:
    delta = timedelta(seconds=seconds)
    return Difference(
        seconds=seconds,
        minutes=seconds / 60,
        hours=seconds / 3600,
        days=seconds / 86400,
        weeks=seconds / 604800,
        text=str(delta),
    )


def datetime_(params: DatetimeParams, ctx: Context) -> DatetimeResult:
    """Parse, format, convert, shift and compare dates and times, with time zones."""
    zone = _zone(params.timezone, "timezone")
    target = _zone(params.to_timezone, "to_timezone") if params.to_timezone else None
    moment = _parse(params.value, "value", params, zone)
    difference = None
    try:
        if params.operation in ("add", "subtract"):
            sign = -1 if params.operation == "subtract" else 1
            # Years, months, weeks and days move the calendar (10:00 stays 10:00 across a DST
            # change); hours, minutes and seconds are elapsed time.
            moment = _add_months(moment, sign * (params.years * 12 + params.months))
            moment += sign * timedelta(weeks=params.weeks, days=params.days)
            elapsed = timedelta(hours=params.hours, minutes=params.minutes, seconds=params.seconds)
            zone_of_moment = moment.tzinfo
            moment = (moment.astimezone(UTC) + sign * elapsed).astimezone(zone_of_moment)
        elif params.operation == "difference":
            assert params.other is not None
            other = _parse(params.other, "other", params, zone)
            difference = _difference((other - moment).total_seconds())
        if target is not None:
            moment = moment.astimezone(target)
        result = moment.strftime(params.output_format) if params.output_format else None
    except OverflowError:
        raise _invalid("the result is outside the years 1 to 9999", "OutOfRange") from None
    except ValueError as exc:
        raise _invalid(f"output_format: {exc}") from None
    iso = moment.isoformat()
    return DatetimeResult(
        result=result if result is not None else iso,
        iso=iso,
        timestamp=moment.timestamp(),
        timezone=_zone_name(moment),
        year=moment.year,
        month=moment.month,
        day=moment.day,
        hour=moment.hour,
        minute=moment.minute,
        second=moment.second,
        microsecond=moment.microsecond,
        weekday=moment.isoweekday(),
        day_of_year=moment.timetuple().tm_yday,
        difference=difference,
    )
