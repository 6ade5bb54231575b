"""callcenter: the telephony service of a clinic's front desk."""

from callcenter.app import create_app

__all__ = ["create_app"]
