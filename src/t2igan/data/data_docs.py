"""GX's Data Docs views, made deterministic: the same pages, byte for byte, for the same validation results.

The site sits in validate's hashed DVC output (t2igan.data.quality), so a page must be a function of the data.
GX draws uuid4 element ids, stamps its logo's URL with the render time and context id (a page view it can
count), and shows the batch's load time. GX loads these classes by module and class name from the site's
config, only when it renders, so this module imports great-expectations at its top: nothing else imports it.
"""

from __future__ import annotations

import copy
from typing import Any

from great_expectations.render.renderer import ValidationResultsPageRenderer
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import pass_context
from jinja2.runtime import Context

# The views' one Jinja environment, and the element count of the page being rendered.
_shared: dict[str, Any] = {"ids": 0}


class PageView(DefaultJinjaPageView):
    """A page view whose output is a function of the page: element ids numbered per page, and the logo's URL
    without the render time and context id GX appends to it.

    Every view of the process renders with the first one's Jinja environment: each would compile GX's
    templates again (0.25 s a view, three views a site), and nothing in it differs between them. Rendering is
    sequential (GX builds one page at a time), so one count serves every page.
    """

    def __init__(self, custom_styles_directory: Any = None, custom_views_directory: Any = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        self.env = _shared.setdefault("env", self.env)

    def render(self, document: Any, template: Any = None, **kwargs: Any) -> str:
        _shared["ids"] = 0
        return str(super().render(document, template, **kwargs))

    def generate_html_element_uuid(self, prefix: str | None = None) -> str:
        _shared["ids"] += 1
        return f"{prefix or ''}{_shared['ids']}"

    @pass_context
    def add_data_context_id_to_url(self, _context: Context, url: str, _stamp: bool = True) -> str:
        return url


class IndexView(PageView, DefaultJinjaIndexPageView):
    """The site's home page, as deterministic as the other pages."""


class ValidationPage(ValidationResultsPageRenderer):
    """GX's validation page, less the batch's load time (the wall clock, in the batch markers)."""

    def render(self, validation_results: Any, suite_parameters: Any = None) -> Any:
        markers = validation_results.meta.get("batch_markers") or {}
        if "ge_load_time" in markers:
            validation_results = copy.copy(validation_results)  # the stored result stays as GX made it
            kept = {key: value for key, value in markers.items() if key != "ge_load_time"}
            validation_results.meta = {**validation_results.meta, "batch_markers": kept}
        return super().render(validation_results, suite_parameters)
