"""One module per page family; `PAGES` lists their routers in navigation order."""

from __future__ import annotations

from fastapi import APIRouter

from vertebro.web.pages import home

PAGES: list[APIRouter] = [home.router]
