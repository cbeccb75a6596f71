#!/usr/bin/env python3
"""The Python template loop that provsite's benchmark measures itself against.

It does, for the same synthetic phones as `benches/build.rs`, the per-phone work of Wazo's provd
plugin for Technicolor phones (`BaseTechnicolorPlugin.configure` in wazo-provd-plugins,
`plugins/wazo_technicolor/common/common.py`): it computes the plugin's derived values, renders the
plugin's own Jinja2 template for the phone's model, and writes the file in ISO-8859-1 under a
temporary name, then renames it into place, as provd's `TemplatePluginHelper.dump` does.

The templates are not part of provsite: pass the folder of a checkout of
https://github.com/wazo-platform/wazo-provd-plugins, `plugins/wazo_technicolor/common/templates`.

It leaves out what provd does around that loop (merging the configuration layers of each device,
looking for a per-device template first, the time zone tables), so its time is a lower bound for
the Python loop. It prints the CPU seconds of the loop alone (no interpreter start, no imports):

    loop_cpu_s=<float> phones=<n>

Needs Python 3 and Jinja2 (`pip install jinja2`).
"""

import argparse
import os
import time

import jinja2

MODELS = ["ST2030", "ST2030", "TB30", "ST2022"]
NB_FKEYS = 66
NB_LINES = 4


def mac_of(i):
    """The bench's MAC of phone i, as 12 upper-case hex digits."""
    return "001F%02X%02X%02X%02X" % ((i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255)


def raw_config(i):
    """Phone i of the bench, in provd's raw configuration terms: one line, BLF keys."""
    model = MODELS[i % 4]
    keys = 3 if model == "ST2022" else 8
    return model, {
        "locale": "fr_FR",
        "timezone": "Europe/Paris",
        "http_port": 80,
        "ip": "192.0.2.20",
        "ntp_enabled": True,
        "ntp_ip": "192.0.2.10",
        "exten_pickup_call": "*8",
        "exten_voicemail": "*98",
        "sip_proxy_ip": "192.0.2.5",
        "sip_registrar_ip": "192.0.2.5",
        "sip_dtmf_mode": "RTP-out-of-band",
        "sip_transport": "udp",
        "admin_username": "admin",
        "admin_password": "bench-admin-pass",
        "sip_lines": {
            "1": {
                "number": "u%d" % i,
                "display_name": "Employé %d r0" % i,
                "auth_username": "u%d" % i,
                "username": "u%d" % i,
                "password": "secret-%d" % i,
            }
        },
        "funckeys": {
            str(k): {"type": "blf", "value": "u%d" % ((i + k) % 1_000_000)}
            for k in range(1, keys + 1)
        },
    }


def configure(raw):
    """The derived values `configure` adds before rendering (Europe/Paris is zone 23)."""
    raw["XX_language_type"], raw["XX_country_code"] = ("1", "FR")
    raw["XX_config_sn"] = "%012f" % time.time()
    raw["XX_dtmf_mode_flag"] = {"RTP-in-band": "0", "RTP-out-of-band": "1", "SIP-INFO": "4"}.get(
        raw.get("sip_dtmf_mode"), "1"
    )
    raw["XX_transport_flg"] = {"udp": "0", "tcp": "1", "tls": "2"}.get(raw.get("sip_transport"), "0")
    raw["XX_ntp_zone_num"] = 23
    lines = []
    funckeys = raw["funckeys"]
    for keynum in range(1, NB_FKEYS + 1):
        key = funckeys.get(str(keynum))
        if key is None:
            lines.append("FeatureKeyExt%02d=L/<sip:>" % keynum)
        else:
            prefix = "S" if key["type"] == "blf" else "L"
            lines.append("FeatureKeyExt%02d=%s/<sip:%s>" % (keynum, prefix, key["value"]))
    raw["XX_fkeys"] = "\n".join(lines)
    base = "%s:%s" % (raw["ip"], raw["http_port"])
    raw["XX_server_url_without_scheme"] = base
    raw["XX_server_url"] = "http://" + base
    raw["XX_phonebook_name"] = "Annuaire entreprise"
    raw["XX_nb_lines"] = NB_LINES


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--templates", required=True, help="wazo_technicolor/common/templates")
    ap.add_argument("--phones", type=int, required=True)
    ap.add_argument("--out", required=True, help="a folder that does not exist yet")
    args = ap.parse_args()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([args.templates]))
    os.makedirs(args.out)
    start = time.process_time()
    for i in range(args.phones):
        model, raw = raw_config(i)
        configure(raw)
        tpl = env.get_template(model + ".tpl")
        path = os.path.join(args.out, "%sS_%s.txt" % (model, mac_of(i)))
        tpl.stream(raw).dump(path + ".tmp", "ISO-8859-1", "replace")
        os.rename(path + ".tmp", path)
    print("loop_cpu_s=%.4f phones=%d" % (time.process_time() - start, args.phones))


if __name__ == "__main__":
    main()
