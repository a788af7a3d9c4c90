"""Writes the fuzz targets' starting corpora (fuzz/corpus/<target>/) from
the fixture photos, the repository's manifests and LUTs: small images in
every accepted format and variant (baseline and progressive JPEG, EXIF
orientation, ICC, PNG colour types, bit depths and interlacing, lossy and
lossless WebP, animated GIF, PAM), wrapped in each target's input layout.

Usage: python3 make_seeds.py ROOT OUT   (needs Pillow)
"""

import io
import pathlib
import sys

from PIL import Image

root = pathlib.Path(sys.argv[1])
out = pathlib.Path(sys.argv[2])
photos = root.parent / "shared" / "fixtures" / "photos"


def small(name, size=(48, 32)):
    image = Image.open(photos / name).convert("RGB")
    return image.resize(size)


def save(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, **options)
    return buffer.getvalue()


def pam(image):
    image = image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("RGB")
    depth, tuple_type = (4, "RGB_ALPHA") if image.mode == "RGBA" else (3, "RGB")
    header = (
        f"P7\nWIDTH {image.width}\nHEIGHT {image.height}\nDEPTH {depth}\n"
        f"MAXVAL 255\nTUPLTYPE {tuple_type}\nENDHDR\n"
    )
    return header.encode() + image.tobytes()


def images():
    rgb = small("coffee.png")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    srgb_icc = None
    try:
        from PIL import ImageCms

        srgb_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    except Exception:
        pass
    yield "baseline.jpg", save(rgb, format="JPEG", quality=80)
    yield "progressive.jpg", save(small("astronaut.png"), format="JPEG", quality=60, progressive=True)
    yield "grey.jpg", save(rgb.convert("L"), format="JPEG", quality=70)
    yield "cmyk.jpg", save(rgb.convert("CMYK"), format="JPEG", quality=70)
    yield "exif6.jpg", save(rgb, format="JPEG", quality=75, exif=exif.tobytes())
    if srgb_icc:
        yield "icc.jpg", save(rgb, format="JPEG", quality=75, icc_profile=srgb_icc)
        yield "icc.png", save(rgb, format="PNG", icc_profile=srgb_icc)
    yield "rgb.png", save(rgb, format="PNG")
    yield "rgba.png", save(rgba, format="PNG")
    yield "interlaced.png", save(small("chelsea.png"), format="PNG", interlace=1)
    yield "palette.png", save(rgb.quantize(16), format="PNG")
    yield "grey16.png", save(rgb.convert("I;16"), format="PNG")
    yield "greya.png", save(rgba.convert("LA"), format="PNG")
    yield "lossy.webp", save(rgb, format="WEBP", quality=70)
    yield "lossless.webp", save(rgba, format="WEBP", lossless=True)
    frames = [rgb.quantize(32), small("rocket.jpg").quantize(32)]
    yield "animated.gif", save(frames[0], format="GIF", save_all=True, append_images=frames[1:])
    yield "rgb.pam", pam(rgb)
    yield "rgba.pam", pam(rgba)


def write(target, name, data):
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


THUMBNAIL_QUERIES = [
    "w=32&format=auto",
    "w=20&h=20&fit=cover&g=sm&format=webp&q=80",
    "width=16&height=40&fit=contain&background=ff00ff&format=png",
    "crop=4,4,20,20&w=10&fit=fill&format=jpg&quality=50",
    "dpr=2&w=12&enlarge=true&format=avif",
]
THUMBNAIL_PATHS = [
    "w:32/aHR0cHM6Ly9leGFtcGxlLmNvbS9hLmpwZw",
    "w:20,h:20,fit:cover,g:sm/aHR0cHM6Ly9leGFtcGxlLmNvbS9hLmpwZw",
    "w:16,f:webp,q:70,dpr:2/aHR0cHM6Ly9leGFtcGxlLmNvbS9hLmpwZw",
]
COLOR_QUERIES = [
    "wb=auto&ev=skin&format=jpeg&q=90",
    "wb=whitepatch&temp=5000",
    "wb=sog&gains=1.1,1,0.9&format=png",
    "lut=upload&interp=trilinear",
    "ev=auto&format=webp&profile=studio-a",
]


def main():
    photos_seeds = list(images())
    cube = (root / "workers/color/assets/luts/warm.cube").read_bytes()
    for name, data in photos_seeds:
        write("decode", name, data)
        write("moderation", name, b"\0" + data)
        write("moderation", "pdq-" + name, b"\1" + data)
        write("ingest_fragment", name, b"\0" + b"7\n" + data)
        if data.startswith(b"P7\n"):
            write("pam", name, data[3:])
    for i, query in enumerate(THUMBNAIL_QUERIES):
        for name, data in photos_seeds[i::len(THUMBNAIL_QUERIES)]:
            write("thumbnail", f"post{i}-{name}", b"\0" + query.encode() + b"\n" + data)
    for i, path in enumerate(THUMBNAIL_PATHS):
        name, data = photos_seeds[i]
        write("thumbnail", f"get{i}-{name}", b"\1" + path.encode() + b"\n" + data)
    for i, query in enumerate(COLOR_QUERIES):
        name, data = photos_seeds[i]
        write("color", f"q{i}-{name}", bytes([2 * (i % 2)]) + query.encode() + b"\n" + data)
    name, data = photos_seeds[0]
    write("color", "json-lut", b"\2lut=upload\n" + data + b"\0" + cube)
    write("color", "analyze", b"\1\n" + data)
    for n in (2, 3):
        rows = [f"{r / (n - 1):.4f} {g / (n - 1):.4f} {b / (n - 1):.4f}"
                for b in range(n) for g in range(n) for r in range(n)]
        text = f'TITLE "identity {n}"\n# comment\nLUT_3D_SIZE {n}\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n'
        write("cube", f"identity{n}.cube", (text + "\n".join(rows) + "\n").encode())
    if len(cube) < 65536:
        write("cube", "warm.cube", cube)
    for i, path in enumerate(
        [root / "spin.toml", root / "tests/guests/spin-app/spin.toml",
         root / "tests/guests/spin-app/runtime-config.toml"]
    ):
        write("manifest", f"{i}-{path.name}", path.read_bytes())
    write("manifest", "patterns", b"https://*:*\nhttp://127.0.0.1:*\nredis://[::1]:6379\n/api/...\n/v1/thumbnail/...\n")


main()
