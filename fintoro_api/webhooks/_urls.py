"""Check a receiver URL the way Fintoro will, before creating or updating a subscription."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from .._exceptions import ReceiverURLError as ReceiverURLError  # defined with every other error

Resolver = Callable[[str], Awaitable[list[str]]]


async def _resolve(host: str) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local)


async def validate_receiver_url(url: str, *, resolver: Resolver | None = None) -> str:
    """Return ``url`` if Fintoro will accept it as a receiver, else raise ReceiverURLError saying why.

    Rules: ``https://`` only; no user name or password; the host must resolve,
    and only to public addresses (localhost, ``.local``, private, loopback,
    link-local and reserved ranges are refused).
    """
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise ReceiverURLError(f"receiver URL must use https://, not {parts.scheme or 'no scheme'}")
    if parts.username is not None or parts.password is not None:
        raise ReceiverURLError("receiver URL must not contain a user name or password")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ReceiverURLError("receiver URL has no host")
    if host == "localhost" or host.endswith((".localhost", ".local")):
        raise ReceiverURLError(f"receiver host {host!r} is local")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await (resolver or _resolve)(host)
        except OSError as exc:
            raise ReceiverURLError(f"receiver host {host!r} does not resolve ({exc.strerror or exc})") from None
    if not addresses:
        raise ReceiverURLError(f"receiver host {host!r} does not resolve")
    private = [a for a in addresses if not _public(a)]
    if private:
        raise ReceiverURLError(f"receiver host {host!r} resolves to non-public address(es): {', '.join(private)}")
    return url
