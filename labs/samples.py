"""A sample corpus: small PDFs on distinct topics, and a few broken ones.

Each good PDF is a 2-4 page handbook on one of :data:`TOPICS`, with words that
belong to that topic only, so a search for a topic's words (``topic.query``)
should find its file. Its metadata carries a Chinese summary (the PDF's
Subject, :data:`SUMMARIES_ZH`; the standard fonts have no Chinese glyphs),
which the index stores as one more chunk: the lab's embedding model is
English only, and the hashing fallback matches Chinese characters, so a
Chinese query still finds something. :data:`PARAPHRASES` are queries that
share no content word with their handbook: only an embedding model that
knows meaning finds those. The broken files are the poison inputs of the PDF lesson:
an index job must fail on them with a clear reason, once, without retrying.
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

CORPUS_NOTE = (
    "This handbook is part of the Long-Task Lab sample corpus. It is generated for "
    "practice and describes typical procedures rather than any real organisation."
)


@dataclass(frozen=True)
class Topic:
    slug: str  # used in file names: doc-003-astronomy.pdf
    title: str
    query: str  # a search that should find this topic's file first
    sections: tuple[str, ...]
    facts: tuple[str, ...]

    @property
    def summary_zh(self) -> str:
        return SUMMARIES_ZH[self.slug]


TOPICS: tuple[Topic, ...] = (
    Topic(
        "parcel-logistics",
        "Parcel Logistics at the Sorting Hub",
        "sorting hub conveyor barcode scanner line haul trailers",
        ("Inbound trailers", "The sorting hub", "Line haul planning", "Depot handover"),
        (
            "Line haul trailers arrive at the sorting hub between midnight and four in the morning.",
            "Every parcel passes a barcode scanner before it enters the main conveyor loop.",
            "The conveyor diverts each parcel into a chute that matches its destination depot.",
            "Oversized parcels bypass the conveyor and are sorted by hand on the bulk dock.",
            "A pallet of parcels is wrapped, labelled and weighed before it is loaded for line haul.",
            "Sorting hub supervisors watch the scan rate and open extra chutes at peak volume.",
            "Each depot receives a manifest listing the barcode of every parcel on the trailer.",
            "A missed scan at the hub sends the parcel to the exception cage for manual sorting.",
        ),
    ),
    Topic(
        "redelivery-policy",
        "Redelivery Policy for Missed Deliveries",
        "missed delivery card redelivery slot safe place neighbour",
        ("When nobody is home", "Booking a redelivery", "Safe place and neighbour", "Limits"),
        (
            "When a delivery is missed the courier leaves a card with a reference number.",
            "Customers book a redelivery slot online using the reference printed on the card.",
            "A second redelivery attempt is free; a third attempt carries a small fee.",
            "A customer may name a safe place such as a porch box or a garden shed.",
            "With permission, the courier may leave the parcel with a neighbour and note the address.",
            "Parcels that need a signature are never left in a safe place.",
            "After three missed deliveries the parcel waits at the local depot for seven days.",
            "Redelivery slots are offered in morning, afternoon and evening windows.",
        ),
    ),
    Topic(
        "returns-centre",
        "Operating the Returns Centre",
        "returns centre refund inspection bench restock RMA",
        ("Receiving returns", "The inspection bench", "Refunds", "Restock or recycle"),
        (
            "Every returned item must carry an RMA number issued by customer service.",
            "At the inspection bench staff check the item for damage and missing parts.",
            "The refund is released once the inspection bench records the item as complete.",
            "Items in resalable condition are repackaged and sent back to restock.",
            "Damaged returns are graded and sent to the outlet store or to recycling.",
            "The returns centre reports refund times to the finance team every Monday.",
            "A return without an RMA number is held in quarantine until it can be identified.",
            "Electronics returns are wiped and tested before they may be restocked.",
        ),
    ),
    Topic(
        "radio-broadcasting",
        "Radio Broadcasting Operations",
        "radio transmitter antenna frequency studio broadcast FM",
        ("The studio", "Transmitter site", "Frequency and licence", "On-air rules"),
        (
            "The studio sends its programme to the transmitter over a dedicated audio link.",
            "An FM transmitter at the hilltop site feeds the antenna mast through a feeder cable.",
            "The broadcast licence fixes the frequency, the power and the coverage area.",
            "Presenters keep the microphone level steady so the broadcast does not distort.",
            "A standby transmitter takes over automatically if the main one fails.",
            "Station idents are broadcast at the top of every hour.",
            "Engineers measure the antenna's reflected power after every storm.",
            "Silence detection raises an alarm when the studio output goes quiet for a minute.",
        ),
    ),
    Topic(
        "telephone-networks",
        "How Telephone Networks Connect Calls",
        "telephone exchange switchboard subscriber line dial tone trunk",
        ("The subscriber line", "The exchange", "Trunk routes", "Faults"),
        (
            "Each subscriber line is a copper pair running from the home to the local exchange.",
            "When the handset is lifted the exchange sends a dial tone down the line.",
            "Early exchanges used a switchboard where operators connected calls by hand.",
            "Calls between towns travel on trunk circuits between exchanges.",
            "The exchange counts call minutes for every subscriber to prepare the bill.",
            "A busy tone means the called subscriber line is already in use.",
            "Line testers measure the resistance of the copper pair to locate a fault.",
            "Digital exchanges route a call in milliseconds using signalling messages.",
        ),
    ),
    Topic(
        "weather-forecasting",
        "Weather Forecasting Basics",
        "weather forecast rain barometer pressure cold front humidity",
        ("Observations", "Pressure and fronts", "Forecast models", "Warnings"),
        (
            "A barometer measures air pressure; falling pressure often means rain is coming.",
            "A cold front brings a band of heavy rain followed by cooler, clearer air.",
            "Weather balloons measure temperature, humidity and wind as they rise.",
            "The forecast model divides the atmosphere into a grid of boxes.",
            "High humidity and warm air can build thunderstorms in the afternoon.",
            "Forecasters issue a weather warning when strong wind or heavy rain is likely.",
            "The chance of rain is given as a percentage for each part of the day.",
            "Snow forecasts depend on the temperature a few hundred metres above the ground.",
        ),
    ),
    Topic(
        "bread-baking",
        "Baking Bread in a Home Kitchen",
        "bread dough yeast flour oven knead sourdough",
        ("Ingredients", "Kneading the dough", "Proving", "Baking in the oven"),
        (
            "A basic bread dough needs flour, water, salt and yeast.",
            "Kneading the dough for ten minutes builds the gluten that traps the gas.",
            "The dough proves in a warm kitchen until it has doubled in size.",
            "A sourdough starter replaces packet yeast and gives the bread a sour taste.",
            "Preheat the oven with a tray of water to make steam for a crisp crust.",
            "Bread is baked when the loaf sounds hollow if tapped underneath.",
            "Strong flour has more protein and makes a chewier loaf.",
            "Let the bread cool on a rack before slicing so the crumb can set.",
        ),
    ),
    Topic(
        "astronomy",
        "An Introduction to Astronomy",
        "telescope planet star galaxy orbit observatory",
        ("The night sky", "Telescopes", "Planets and orbits", "Stars and galaxies"),
        (
            "A telescope gathers more light than the eye and shows faint stars.",
            "Planets orbit the Sun on nearly circular paths in the same plane.",
            "The observatory dome opens after sunset so the telescope can cool down.",
            "A galaxy holds billions of stars bound together by gravity.",
            "Jupiter is the largest planet and has dozens of moons in orbit around it.",
            "Astronomers measure a star's distance using its parallax over a year.",
            "A dark site far from city lights shows the band of our own galaxy.",
            "The colour of a star reveals the temperature of its surface.",
        ),
    ),
    Topic(
        "beekeeping",
        "Beekeeping for Beginners",
        "beehive honey queen bee colony swarm beekeeper",
        ("The hive", "The colony", "Swarming", "Harvesting honey"),
        (
            "A beehive holds frames of wax comb where the colony stores honey.",
            "Each colony has one queen bee that lays up to two thousand eggs a day.",
            "Worker bees collect nectar and pollen within a few kilometres of the hive.",
            "In spring a strong colony may swarm, leaving with the old queen.",
            "The beekeeper wears a veil and uses a smoker to calm the bees.",
            "Honey is harvested in late summer by spinning the frames in an extractor.",
            "Inspect the hive every week in spring to spot queen cells early.",
            "Enough honey must be left in the hive to feed the colony through winter.",
        ),
    ),
    Topic(
        "railway-signalling",
        "Railway Signalling and Train Control",
        "railway signal locomotive track circuit points timetable",
        ("Signals", "Track circuits", "Points and junctions", "The timetable"),
        (
            "A red signal means the train must stop before the signal.",
            "Track circuits detect a train by the current its wheels carry between the rails.",
            "The signaller sets the points so a train takes the right route at a junction.",
            "Interlocking prevents a signal from clearing for a route that conflicts with another.",
            "The timetable allocates each locomotive a path through the network.",
            "A distant signal warns the driver of the next main signal's aspect.",
            "Engineering trains run at night when the railway is closed to passengers.",
            "Automatic train protection applies the brakes if a signal is passed at danger.",
        ),
    ),
    Topic(
        "volcanoes",
        "Volcanoes and Eruptions",
        "volcano magma lava eruption crater ash seismometer",
        ("Inside a volcano", "Eruptions", "Lava and ash", "Monitoring"),
        (
            "Magma rises from the mantle and collects in a chamber beneath the volcano.",
            "An eruption begins when gas pressure pushes magma up through the crater.",
            "Runny lava flows for kilometres, while sticky lava builds steep domes.",
            "Volcanic ash can ground aircraft hundreds of kilometres from the eruption.",
            "Seismometers around the volcano record the small earthquakes of rising magma.",
            "Scientists measure sulphur dioxide gas to judge whether an eruption is near.",
            "Lava cools into basalt, which weathers into very fertile soil.",
            "The crater lake of a dormant volcano can hide dangerous gases.",
        ),
    ),
    Topic(
        "chess-openings",
        "Chess Openings for Club Players",
        "chess opening gambit pawn bishop castling checkmate",
        ("Opening principles", "Popular openings", "Gambits", "Endgame links"),
        (
            "In the opening, develop the knights and bishops before moving the queen.",
            "Castling early keeps the king safe and connects the rooks.",
            "A gambit sacrifices a pawn to gain time and open lines for attack.",
            "The Italian Game brings the bishop to c4 to aim at the weak f7 square.",
            "The Sicilian Defence answers e4 with the c-pawn and leads to sharp play.",
            "Control of the centre gives pieces more squares in the middlegame.",
            "A quick checkmate in the opening usually punishes an early queen raid.",
            "Club players study a few chess openings deeply rather than many superficially.",
        ),
    ),
)

SUMMARIES_ZH = {
    "parcel-logistics": "包裹物流：干线拖车夜里到达分拣中心，每个包裹先扫条码，再由传送带分到各个网点的滑槽。",
    "redelivery-policy": "派送失败后的再次投递：快递员留下通知卡，客户在网上预约再次派送的时间，也可以放在安全的地方或交给邻居。",
    "returns-centre": "退货中心：退回的商品凭退货号接收，在检验台检查，合格后退款，能再卖的重新上架，其余回收。",
    "radio-broadcasting": "电台广播：演播室把节目送到山顶的发射机，天线按执照规定的频率播出，备用发射机随时接替。",
    "telephone-networks": "电话网络：用户线是一对铜线，从家里接到本地交换机；交换机发出拨号音，城市之间经中继线接通电话。",
    "weather-forecasting": "天气预报：气压计测量气压，冷锋带来降雨，气象气球测量温度和湿度，预报员发布大风暴雨预警。",
    "bread-baking": "在家烤面包：面粉、水、盐和酵母揉成面团，发酵到两倍大，放进预热的烤箱烤出酥脆的外皮。",
    "astronomy": "天文学入门：望远镜收集星光，行星绕太阳运行，星系由数十亿颗恒星组成，天文台在夜里观测。",
    "beekeeping": "养蜂入门：蜂箱里的蜂群只有一只蜂王，工蜂采集花蜜，春天可能分蜂，夏末用摇蜜机收获蜂蜜。",
    "railway-signalling": "铁路信号与列车控制：红灯表示列车必须停车，轨道电路检测列车的位置，道岔决定列车的进路。",
    "volcanoes": "火山与喷发：岩浆从地幔上升，气体压力把岩浆推出火山口，熔岩流动，火山灰会让飞机停飞。",
    "chess-openings": "国际象棋开局：先出马和象，早点王车易位保护国王，弃兵开局用一个兵换取进攻的时间。",
}

# (query, the topic it should find): no content word of the query is in that topic's handbook
PARAPHRASES: tuple[tuple[str, str], ...] = (
    ("I was out at work when the driver knocked; how do I get my package?", "redelivery-policy"),
    ("homemade baguette: letting it rise and getting it golden", "bread-baking"),
    ("insects that make a sweet sticky food in wooden boxes", "beekeeping"),
    ("a mountain that spews molten rock and smoke", "volcanoes"),
    ("will it be sunny or stormy tomorrow", "weather-forecasting"),
)

# Chinese queries (the students' language): (query, the topic it should find)
QUERIES_ZH: tuple[tuple[str, str], ...] = (
    ("家里没人的时候快递怎么办", "redelivery-policy"),
    ("怎么用酵母做面包", "bread-baking"),
    ("明天会不会下雨", "weather-forecasting"),
    ("火山为什么会喷发", "volcanoes"),
    ("蜜蜂怎么酿蜂蜜", "beekeeping"),
)

BROKEN_KINDS = ("truncated", "not-a-pdf", "empty", "garbage", "no-text")


class _Handbook(FPDF):
    """A4 pages with a footer: title and page number."""

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 8, f"{self.title} - page {self.page_no()} of {{nb}}", align="C")


def _pdf(title: str) -> _Handbook:
    pdf = _Handbook(format="A4")
    pdf.set_title(title)
    pdf.set_author("Long-Task Lab")
    pdf.set_creation_date(datetime(2024, 1, 1, tzinfo=UTC))  # same bytes every run
    pdf.set_auto_page_break(auto=True, margin=20)
    return pdf


def _handbook(topic: Topic, number: int, rng: random.Random) -> bytes:
    pdf = _pdf(topic.title)
    pdf.set_subject(topic.summary_zh)  # the Chinese summary, read back as one more chunk
    pages = rng.randint(2, 4)
    for page in range(1, pages + 1):
        pdf.add_page()
        if page == 1:
            pdf.set_font("Helvetica", "B", 18)
            pdf.multi_cell(0, 10, topic.title, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "I", 10)
            pdf.multi_cell(0, 6, f"Document {number:03d}. {CORPUS_NOTE}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 14)
        heading = topic.sections[(page - 1) % len(topic.sections)]
        pdf.cell(0, 12, f"{page}. {heading}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        for _ in range(rng.randint(2, 3)):
            paragraph = " ".join(rng.sample(topic.facts, rng.randint(3, 5)))
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    return bytes(pdf.output())


def _broken(kind: str, rng: random.Random) -> bytes:
    """The bytes of one kind of broken file (see BROKEN_KINDS)."""
    if kind == "truncated":  # a download cut off half way
        good = _handbook(rng.choice(TOPICS), 0, rng)
        return good[: len(good) // 3]
    if kind == "not-a-pdf":  # a text file renamed to .pdf
        return b"hello, this is a shopping list saved as .pdf: milk, eggs, bread\n"
    if kind == "empty":
        return b""
    if kind == "garbage":  # the right header, then noise
        return b"%PDF-1.7\n" + rng.randbytes(2000)
    if kind == "no-text":  # a valid PDF with nothing to read (like a scan)
        pdf = FPDF()  # no footer either
        pdf.set_creation_date(datetime(2024, 1, 1, tzinfo=UTC))
        pdf.add_page()
        pdf.rect(20, 20, 170, 250)
        return bytes(pdf.output())
    raise ValueError(f"unknown broken kind {kind!r}, expected one of {BROKEN_KINDS}")


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a reader (or a second writer with ``keep``) never meets half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    partial.write_bytes(data)
    partial.replace(path)


def make_sample_pdfs(folder: str | Path, n: int, broken: int = 0, seed: int = 0, *, keep: bool = False) -> list[Path]:
    """Write ``n`` topic PDFs and ``broken`` broken files into ``folder``.

    Good files are ``doc-001-<topic>.pdf`` ... (topics in :data:`TOPICS` order,
    shifted by ``seed``), broken ones ``broken-001.pdf`` ... (kinds in
    :data:`BROKEN_KINDS` order). The same arguments give the same files, so
    ``keep=True`` leaves a file already there as it is (a cache: only the missing
    ones are made, about 0.1 s each). Returns the paths, good files first.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        topic = TOPICS[(seed + i) % len(TOPICS)]
        path = folder / f"doc-{i + 1:03d}-{topic.slug}.pdf"
        if not (keep and path.is_file()):
            _write(path, _handbook(topic, i + 1, random.Random(f"{seed}:doc:{i}")))
        paths.append(path)
    for i in range(broken):
        kind = BROKEN_KINDS[i % len(BROKEN_KINDS)]
        path = folder / f"broken-{i + 1:03d}.pdf"
        if not (keep and path.is_file()):
            _write(path, _broken(kind, random.Random(f"{seed}:broken:{i}")))
        paths.append(path)
    return paths


def topic_of(path: str | Path) -> Topic | None:
    """The topic of a sample file, from its name (``doc-003-astronomy.pdf``)."""
    name = Path(path).stem
    return next((t for t in TOPICS if name.endswith(f"-{t.slug}")), None)
