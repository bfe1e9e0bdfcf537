"""The backup plan: what to back up, when, where, and how long to keep it."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RetentionPolicy(BaseModel):
    """Grandfather-father-son retention, with a floor of good runs never deleted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    daily: int = Field(default=7, ge=0, description="newest good run of each of the last N days")
    weekly: int = Field(default=4, ge=0, description="newest good run of each of the last N ISO weeks")
    monthly: int = Field(default=6, ge=0, description="newest good run of each of the last N months")
    min_keep: int = Field(default=3, ge=1, description="the newest N good runs are kept whatever their age")
    time_zone: str = Field(default="UTC", description="IANA zone in which days, weeks and months are counted")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Europe/Berlin'") from exc
        return value
