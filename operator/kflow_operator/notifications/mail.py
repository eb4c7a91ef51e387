"""Send a mail through SMTP (blocking: called from a worker thread)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from kflow.resources.notifications import EmailTarget

from kflow_operator.notifications.errors import DeliveryError, describe


def send_mail(
    target: EmailTarget,
    credentials: tuple[str, str] | None,
    subject: str,
    body: str,
    timeout: float,
) -> None:
    """Upgrade to TLS with STARTTLS whenever the server offers it (certificates verified), log
    in when credentials are given, send. DeliveryError otherwise."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = target.from_
    message["To"] = ", ".join(target.to)
    message.set_content(body)
    where = f"SMTP server {target.host}:{target.port}"
    try:
        with smtplib.SMTP(target.host, target.port, timeout=timeout) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if credentials is not None:
                smtp.login(*credentials)
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as error:
        raise DeliveryError(f"{where} refused the credentials (code {error.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused as error:
        raise DeliveryError(f"{where} refused the recipients {sorted(error.recipients)}") from None
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"{where}: {describe(error)}") from None
