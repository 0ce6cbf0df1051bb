"""The topic taxonomy: a YAML file of topics and keywords, and a fast keyword classifier.

The file is `$CX_TOPIC_TAXONOMY` when set, else the `taxonomy.yaml` shipped next to this module.
It is validated on load (unique ids, an `other` fallback, non-empty keyword lists); a bad file
fails with an error naming the file and the topic. `classify(text)` counts whole-word/phrase
keyword hits per topic with ONE precompiled regex; most hits wins, a tie goes to the topic listed
first, no hit is `other`. `version` is a short hash of the file's bytes, so editing the taxonomy
changes the judge version.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "DEFAULT_TAXONOMY_PATH",
    "FALLBACK_TOPIC",
    "TAXONOMY_ENV",
    "Taxonomy",
    "TaxonomyError",
    "TopicSpec",
    "default_taxonomy_path",
]

TAXONOMY_ENV = "CX_TOPIC_TAXONOMY"
DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")
_REPO_ROOT = Path(__file__).resolve().parents[2]
FALLBACK_TOPIC = "other"
_SPACES = re.compile(r"\s+")


class TaxonomyError(ValueError):
    """The taxonomy file is missing, not YAML, or not a valid taxonomy. Names the file."""


class TopicSpec(BaseModel):
    """One topic of the taxonomy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    label: str = Field(min_length=1)
    description: str = ""
    keywords: list[str] = Field(default_factory=list)

    @field_validator("keywords")
    @classmethod
    def _normalise_keywords(cls, value: list[str]) -> list[str]:
        seen: dict[str, None] = {}
        for keyword in value:
            normalised = _SPACES.sub(" ", str(keyword).strip().lower())
            if not normalised:
                raise ValueError("a keyword is blank")
            seen[normalised] = None
        return list(seen)

    @model_validator(mode="after")
    def _keywords_unless_fallback(self) -> TopicSpec:
        if not self.keywords and self.id != FALLBACK_TOPIC:
            raise ValueError("keywords is empty (only the 'other' topic may have none)")
        return self


class _TaxonomyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    topics: list[TopicSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids_and_fallback(self) -> _TaxonomyFile:
        ids = [topic.id for topic in self.topics]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate topic id(s): {', '.join(duplicates)}")
        if FALLBACK_TOPIC not in ids:
            raise ValueError(f"no '{FALLBACK_TOPIC}' topic (the fallback when nothing matches)")
        return self


def _trie_pattern(words: Iterable[str]) -> str | None:
    """A regex matching exactly `words`, nested by common prefix; a space matches any spaces."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        branches = [
            (r"\s+" if char == " " else re.escape(char)) + build(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie) or None


def default_taxonomy_path() -> Path:
    """`$CX_TOPIC_TAXONOMY` when set (read now, not at import), else the packaged file.

    A relative path resolves against the repository root, like every other `CX_` path setting.
    """
    configured = os.environ.get(TAXONOMY_ENV, "").strip()
    if not configured:
        return DEFAULT_TAXONOMY_PATH
    path = Path(configured).expanduser()
    return path if path.is_absolute() else (_REPO_ROOT / path).resolve()


def _describe(error: ValidationError, raw: Any) -> str:
    """Pydantic errors as 'topic <id>: <field>: <message>' lines (the id, not an index)."""
    raw_topics = raw.get("topics") if isinstance(raw, dict) else None
    lines = []
    for item in error.errors():
        loc = list(item["loc"])
        where = ".".join(str(part) for part in loc)
        if len(loc) >= 2 and loc[0] == "topics" and isinstance(loc[1], int):
            index = loc[1]
            topic_id = None
            if isinstance(raw_topics, list) and index < len(raw_topics):
                entry = raw_topics[index]
                topic_id = entry.get("id") if isinstance(entry, dict) else None
            name = f"topic {topic_id!r}" if topic_id else f"topic #{index + 1}"
            rest = ".".join(str(part) for part in loc[2:])
            where = f"{name}: {rest}" if rest else name
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if loc else message)
    return "; ".join(lines)


class Taxonomy:
    """A validated taxonomy and its classifier. Build it with `Taxonomy.load()`."""

    def __init__(self, topics: Iterable[TopicSpec], *, source: str, version: str) -> None:
        self.topics: tuple[TopicSpec, ...] = tuple(topics)
        self.source = source
        self.version = version
        self.ids: tuple[str, ...] = tuple(topic.id for topic in self.topics)
        # keyword -> indexes of the topics listing it (a keyword may serve several topics)
        owners: dict[str, list[int]] = {}
        for index, topic in enumerate(self.topics):
            for keyword in topic.keywords:
                owners.setdefault(keyword, []).append(index)
        self._owners = {keyword: tuple(indexes) for keyword, indexes in owners.items()}
        self._fallback = self.ids.index(FALLBACK_TOPIC)
        self._pattern = self._compile(owners)

    @staticmethod
    def _compile(keywords: Iterable[str]) -> re.Pattern[str] | None:
        """One regex for all keywords, shaped as a trie (shared prefixes are matched once: several
        times faster than a flat alternation); it prefers the longest keyword at a position."""
        trie = _trie_pattern(keywords)
        if trie is None:
            return None
        # Whole words/phrases only; a trailing -s/-es is allowed (plural) and not captured.
        return re.compile(rf"(?<!\w)({trie})(?:e?s)?(?!\w)")

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Taxonomy:
        """Read and validate a taxonomy file (default: `default_taxonomy_path()`)."""
        file = Path(path) if path is not None else default_taxonomy_path()
        try:
            content = file.read_bytes()
        except OSError as error:
            raise TaxonomyError(f"cannot read topic taxonomy {file}: {error}") from error
        try:
            raw = yaml.safe_load(content)
        except yaml.YAMLError as error:
            raise TaxonomyError(f"topic taxonomy {file} is not valid YAML: {error}") from error
        if not isinstance(raw, dict):
            raise TaxonomyError(f"invalid topic taxonomy {file}: expected a mapping with 'topics'")
        try:
            parsed = _TaxonomyFile.model_validate(raw)
        except ValidationError as error:
            detail = _describe(error, raw)
            raise TaxonomyError(f"invalid topic taxonomy {file}: {detail}") from None
        version = hashlib.sha256(content).hexdigest()[:8]
        return cls(parsed.topics, source=str(file), version=version)

    def counts(self, text: str) -> dict[str, int]:
        """Keyword hits per topic id (topics without a hit left out)."""
        hits = [0] * len(self.topics)
        if self._pattern is not None and text:
            owners = self._owners
            for match in self._pattern.findall(text.lower()):
                keyword = match if match in owners else _SPACES.sub(" ", match)
                for index in owners.get(keyword, ()):
                    hits[index] += 1
        return {self.ids[i]: n for i, n in enumerate(hits) if n}

    def classify(self, text: str) -> str:
        """The topic with the most keyword hits; ties go to the earlier topic; none -> other."""
        hits = self.counts(text)
        if not hits:
            return FALLBACK_TOPIC
        best = max(hits.values())
        return next(topic_id for topic_id in self.ids if hits.get(topic_id) == best)

    def __repr__(self) -> str:
        return f"Taxonomy({self.source!r}, topics={len(self.topics)}, version={self.version!r})"
