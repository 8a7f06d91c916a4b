"""Sign an account in with a headless Chromium and capture its session (cookies and user agent).

The browser opens the web app's sign-in page (`paths.signin_page`), which lets any WAF challenge script run
first (it sets its cookie and reloads, as for a person), fills the form (`login.*_selector` in
`protocol.json`), submits it and waits for the session cookie. The user agent is set to the one the gateway
sends, so the cookies earned are used with the same one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
import orjson

from qwen_server.browser.cdp import CDP, CDPError
from qwen_server.browser.chromium import find_executable, launched
from qwen_server.providers.base import Account
from qwen_server.providers.qwen_web import protocol


class LoginFailed(RuntimeError):
    """The browser could not sign the account in; the message never holds a secret."""


@dataclass(frozen=True, slots=True)
class CapturedSession:
    cookies: dict[str, str]
    user_agent: str

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())


def _fill_script(email: str, password: str) -> str:
    spec = protocol.current().section("login")
    values = orjson.dumps({"email": email, "password": password}).decode()
    selectors = orjson.dumps(spec).decode()
    return f"""(() => {{
  const v = {values}, s = {selectors};
  const set = (el, value) => {{
    const proto = Object.getPrototypeOf(el);
    Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, value);
    el.dispatchEvent(new Event('input', {{bubbles: true}}));
    el.dispatchEvent(new Event('change', {{bubbles: true}}));
  }};
  const email = document.querySelector(s.email_selector), password = document.querySelector(s.password_selector);
  if (!email || !password) return false;
  set(email, v.email); set(password, v.password);
  const submit = document.querySelector(s.submit_selector);
  if (submit) submit.click(); else password.form.requestSubmit();
  return true;
}})()"""


async def _until(check: object, deadline: float, what: str) -> None:
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise LoginFailed(f"timed out waiting for {what}")


async def capture_session(
    account: Account, *, seconds: float = 60.0, executable: str | None = None
) -> CapturedSession:
    """Sign `account` (email + password) in with a headless Chromium; raises `BrowserMissing` without one."""
    if not (account.email and account.password):
        raise LoginFailed(f"account {account.name}: signing in needs email and password")
    exe = executable or find_executable()
    spec = protocol.current()
    user_agent = account.user_agent or spec.user_agent
    cookie_name = str(spec.section("login").get("session_cookie") or "token")
    deadline = time.monotonic() + seconds
    async with launched(exe) as devtools, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(devtools, max_msg_size=0)
        cdp = CDP(ws)
        try:
            target = await cdp.send("Target.createTarget", {"url": "about:blank"})
            attached = await cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
            page = attached["sessionId"]
            await cdp.send("Network.enable", {}, page)
            await cdp.send("Page.enable", {}, page)
            await cdp.send("Network.setUserAgentOverride", {"userAgent": user_agent}, page)
            await cdp.send("Page.navigate", {"url": account.base_url + spec.path("signin_page")}, page)
            login = spec.section("login")
            ready = f"!!document.querySelector({orjson.dumps(login['password_selector']).decode()})"

            filled: list[bool] = []
            fill = _fill_script(account.email, account.password)

            async def form_filled() -> bool:
                """The form, once the page (and any WAF challenge reloading it) has settled, filled in. A
                page that navigates while it is read is read again."""
                try:
                    if not await cdp.evaluate(page, ready):
                        return False
                    filled.append(bool(await cdp.evaluate(page, fill)))
                except CDPError as exc:
                    if "navigated or closed" not in str(exc) and "context" not in str(exc):
                        raise
                    return False
                return True

            await _until(form_filled, deadline, "the sign-in form (a WAF challenge that never clears?)")
            if not filled[-1]:
                raise LoginFailed("the sign-in form has no email or password field")
            cookies: dict[str, str] = {}

            async def signed_in() -> bool:
                found = await cdp.send("Network.getCookies", {"urls": [account.base_url + "/"]}, page)
                cookies.clear()
                cookies.update({c["name"]: c["value"] for c in found.get("cookies", [])})
                return bool(cookies.get(cookie_name))

            await _until(signed_in, deadline, f"the `{cookie_name}` cookie (a refused sign-in or a captcha?)")
            await cdp.send("Browser.close")
        finally:
            await cdp.close()
    return CapturedSession(cookies, user_agent)
