"""E-mail channel: a digest of the alerts that arrived since the last one, at most one per interval, so an
alert storm sends one e-mail, not thousands."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from fraudguard.alerts.notify.channel import alert_line
from fraudguard.config.model import EmailSettings

MAX_PER_DIGEST = 100_000


class EmailDigestChannel:
    name = "email"
    per_delivery = MAX_PER_DIGEST

    def __init__(self, settings: EmailSettings) -> None:
        assert settings.smtp_host, "the e-mail channel needs an smtp_host"
        self.settings = settings
        self.interval_s = settings.digest_interval_s
        self.max_attempts = settings.max_attempts
        self.backoff_s = settings.backoff_s

    def deliver(self, alerts: list[dict[str, Any]]) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=30) as smtp:
            if s.starttls:  # the default context verifies the certificate and the host name
                smtp.starttls(context=ssl.create_default_context(cafile=s.ca_file))
            if s.username and s.password:
                smtp.login(s.username, s.password.get_secret_value())
            smtp.send_message(digest(alerts, s))


def digest(alerts: list[dict[str, Any]], settings: EmailSettings) -> EmailMessage:
    ranked = sorted(alerts, key=lambda alert: alert["score"], reverse=True)
    listed = ranked[: settings.max_alerts_listed]
    lines = [f"{len(alerts)} new fraud alert(s), highest score first.", ""]
    for alert in listed:
        lines.append(f"- {alert_line(alert)}")
        if alert.get("reasons"):
            lines.append(f"    why: {'; '.join(alert['reasons'])}")
    if len(ranked) > len(listed):
        lines += ["", f"... and {len(ranked) - len(listed)} more: see the dashboard."]
    message = EmailMessage()
    message["Subject"] = f"[fraudguard] {len(alerts)} new fraud alert(s), top score {ranked[0]['score']:.3f}"
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message.set_content("\n".join(lines))
    return message
