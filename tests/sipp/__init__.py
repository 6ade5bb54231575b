"""sipp as the patient's phone (and the PBX registrar) for the SIP dialer tests."""
