"""Plausible people for the demo: names, addresses, time zones and locales."""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass


def _words(text: str) -> list[str]:
    return text.split()


_ENGLISH_FIRST = _words(
    "Olivia Amelia Isla Ava Mia Grace Freya Lily Emily Sophie Oliver George Harry Jack "
    "Noah Leo Arthur Oscar Charlie James Hannah Chloe Ruby Ella Thomas William Samuel "
    "Daniel Megan Zoe"
)
_ENGLISH_LAST = _words(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Robinson Wright "
    "Thompson Evans Walker White Roberts Green Hall Wood Clarke Hughes Edwards Turner "
    "Murphy Kelly Campbell Khan"
)
_AMERICAN_FIRST = _words(
    "Emma Madison Abigail Harper Evelyn Avery Ethan Mason Logan Lucas Jackson Aiden "
    "Elijah Camila Sofia Mateo Riley Jordan"
)
_AMERICAN_LAST = _words(
    "Miller Garcia Martinez Anderson Moore Jackson Lee Harris Lewis Young King Scott "
    "Nguyen Hill Flores Rivera Baker Nelson"
)
_GERMAN_FIRST = _words(
    "Lena Mia Hannah Lea Marie Anna Lukas Leon Finn Jonas Paul Felix Maximilian Jana "
    "Katrin Stefan Jürgen Sabine"
)
_GERMAN_LAST = _words(
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
    "Richter Klein Wolf Schröder Neumann"
)
_FRENCH_FIRST = _words(
    "Camille Léa Manon Chloé Inès Louise Hugo Lucas Louis Jules Gabriel Arthur Élodie "
    "Mathilde Théo Nathan"
)
_FRENCH_LAST = _words(
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
    "Lefèvre Michel Garnier Faure"
)
_JAPANESE_FIRST = _words(
    "Yui Hina Sakura Aoi Yuna Haruto Sota Yuto Riku Ren Kenji Akiko Takumi Mei"
)
_JAPANESE_LAST = _words(
    "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yoshida Yamada"
)

#: (IANA time zone, locale, weight, first names, last names) for a UK shop that ships abroad.
REGIONS: list[tuple[str, str, int, list[str], list[str]]] = [
    ("Europe/London", "en-GB", 44, _ENGLISH_FIRST, _ENGLISH_LAST),
    ("Europe/Dublin", "en-IE", 4, _ENGLISH_FIRST, _ENGLISH_LAST),
    ("America/New_York", "en-US", 12, _AMERICAN_FIRST, _AMERICAN_LAST),
    ("America/Los_Angeles", "en-US", 7, _AMERICAN_FIRST, _AMERICAN_LAST),
    ("America/Toronto", "en-CA", 3, _AMERICAN_FIRST, _ENGLISH_LAST),
    ("Europe/Berlin", "de-DE", 10, _GERMAN_FIRST, _GERMAN_LAST),
    ("Europe/Paris", "fr-FR", 6, _FRENCH_FIRST, _FRENCH_LAST),
    ("Australia/Sydney", "en-AU", 8, _ENGLISH_FIRST, _ENGLISH_LAST),
    ("Asia/Tokyo", "ja-JP", 6, _JAPANESE_FIRST, _JAPANESE_LAST),
]

# Reserved domains (RFC 2606): a demo address can never reach a real inbox.
_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]

# When people shop, in their own local time: mornings, lunch and evenings.
_HOUR_WEIGHTS = [0, 0, 0, 0, 0, 0, 1, 3, 5, 4, 3, 3, 5, 5, 3, 3, 3, 4, 6, 8, 9, 7, 4, 1]


@dataclass(frozen=True)
class Person:
    email: str
    first_name: str
    last_name: str
    time_zone: str
    locale: str
    preferred_hour: int
    birthday: dt.date | None


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if char.isascii()).lower().replace(" ", "")


def make_person(rng: random.Random, number: int, today: dt.date) -> Person:
    time_zone, locale, _weight, first_names, last_names = rng.choices(
        REGIONS, weights=[region[2] for region in REGIONS]
    )[0]
    first, last = rng.choice(first_names), rng.choice(last_names)
    style = rng.random()
    local = (
        f"{_ascii(first)}.{_ascii(last)}"
        if style < 0.5
        else f"{_ascii(first)[0]}{_ascii(last)}"
        if style < 0.8
        else f"{_ascii(first)}{rng.randint(70, 99)}"
    )
    # The running number keeps addresses unique without retry loops.
    email = f"{local}.{number}@{rng.choice(_DOMAINS)}"
    birthday = None
    if rng.random() < 0.7:
        age_days = rng.randint(18 * 365, 75 * 365)
        birthday = today - dt.timedelta(days=age_days)
    return Person(
        email=email,
        first_name=first,
        last_name=last,
        time_zone=time_zone,
        locale=locale,
        preferred_hour=rng.choices(range(24), weights=_HOUR_WEIGHTS)[0],
        birthday=birthday,
    )
