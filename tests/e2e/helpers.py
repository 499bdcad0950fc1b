"""What the browser flows share: a browser context (desktop or phone), signing in through the
real pages (with the second factor where the policy asks for it), and a CSP watcher."""

import re
from urllib.parse import urlsplit

from tests.factories import PASSWORD, second_factor_code
from xueji.accounts.twofactor import second_factor_required

PHONE = {"width": 390, "height": 844}


def watch_csp(page, violations: list[str]) -> None:
    """Collect every Content-Security-Policy violation the page reports."""
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )


def sign_in(page, user) -> None:
    needs_code = second_factor_required(user)
    if needs_code:
        second_factor_code(user)  # binds the test authenticator before the sign-in
    page.goto("/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    if needs_code:
        page.wait_for_url(re.compile(r".*/accounts/second-factor/$"))
        page.fill("#id_code", second_factor_code(user))
        page.click("button[type=submit]")
    page.wait_for_url(lambda url: urlsplit(url).path == "/")


def new_context(browser, live_server, *, phone: bool):
    options: dict = {"locale": "zh-CN", "base_url": live_server.url}
    if phone:
        options.update(viewport=PHONE, is_mobile=True, has_touch=True)
    else:
        options.update(viewport={"width": 1280, "height": 900})
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    return context


def htmx_settled(page) -> None:
    """Wait until htmx has finished with what it swapped in. htmx binds the `hx-*` attributes
    of new content only when it settles (a timer after the swap), so a field chosen the moment
    it appears would change without htmx seeing it: the next request is never sent."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )
