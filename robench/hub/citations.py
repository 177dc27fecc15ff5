"""BibTeX of the papers behind each architecture family, for model cards."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    key: str
    title: str
    authors: tuple[str, ...]
    venue: str  # booktitle, or "arXiv preprint" for papers published only there
    year: int
    arxiv: str

    def bibtex(self) -> str:
        kind, venue_field = (
            ("misc", "howpublished") if self.venue == "arXiv preprint" else ("inproceedings", "booktitle")
        )
        fields = {
            "title": self.title,
            "author": " and ".join(self.authors),
            venue_field: self.venue,
            "year": str(self.year),
            "eprint": self.arxiv,
            "archivePrefix": "arXiv",
        }
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items())
        return f"@{kind}{{{self.key},\n{body}\n}}"


PAPERS = {
    paper.key: paper
    for paper in (
        Paper(
            "liu2019darts",
            "{DARTS}: Differentiable Architecture Search",
            ("Hanxiao Liu", "Karen Simonyan", "Yiming Yang"),
            "International Conference on Learning Representations (ICLR)",
            2019,
            "1806.09055",
        ),
        Paper(
            "chen2019pdarts",
            "Progressive Differentiable Architecture Search: Bridging the Depth Gap between Search and Evaluation",
            ("Xin Chen", "Lingxi Xie", "Jun Wu", "Qi Tian"),
            "IEEE/CVF International Conference on Computer Vision (ICCV)",
            2019,
            "1904.12760",
        ),
        Paper(
            "xu2020pcdarts",
            "{PC-DARTS}: Partial Channel Connections for Memory-Efficient Architecture Search",
            ("Yuhui Xu", "Lingxi Xie", "Xiaopeng Zhang", "Xin Chen", "Guo-Jun Qi", "Qi Tian", "Hongkai Xiong"),
            "International Conference on Learning Representations (ICLR)",
            2020,
            "1907.05737",
        ),
        Paper(
            "dong2020racl",
            "Adversarially Robust Neural Architectures",
            ("Minjing Dong", "Yanxi Li", "Yunhe Wang", "Chang Xu"),
            "arXiv preprint",
            2020,
            "2009.00902",
        ),
        Paper(
            "guo2020robnet",
            "When {NAS} Meets Robustness: In Search of Robust Architectures against Adversarial Attacks",
            ("Minghao Guo", "Yuzhe Yang", "Rui Xu", "Ziwei Liu", "Dahua Lin"),
            "IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)",
            2020,
            "1911.10695",
        ),
        Paper(
            "mok2021advrush",
            "{AdvRush}: Searching for Adversarially Robust Neural Architectures",
            ("Jisoo Mok", "Byunggook Na", "Hyeokjun Choe", "Sungroh Yoon"),
            "IEEE/CVF International Conference on Computer Vision (ICCV)",
            2021,
            "2108.01289",
        ),
        Paper(
            "devaguptapu2021nasrobustness",
            "On Adversarial Robustness: A Neural Architecture Search Perspective",
            (
                "Chaitanya Devaguptapu",
                "Devansh Agarwal",
                "Gaurav Mittal",
                "Pulkit Gopalani",
                "Vineeth N Balasubramanian",
            ),
            "IEEE/CVF International Conference on Computer Vision Workshops (ICCVW)",
            2021,
            "2007.08428",
        ),
        Paper(
            "ou2024arnas",
            "Towards Accurate and Robust Architectures via Neural Architecture Search",
            ("Yuwei Ou", "Yuqi Feng", "Yanan Sun"),
            "IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)",
            2024,
            "2405.05502",
        ),
        Paper(
            "he2016resnet",
            "Deep Residual Learning for Image Recognition",
            ("Kaiming He", "Xiangyu Zhang", "Shaoqing Ren", "Jian Sun"),
            "IEEE Conference on Computer Vision and Pattern Recognition (CVPR)",
            2016,
            "1512.03385",
        ),
        Paper(
            "zagoruyko2016wrn",
            "Wide Residual Networks",
            ("Sergey Zagoruyko", "Nikos Komodakis"),
            "British Machine Vision Conference (BMVC)",
            2016,
            "1605.07146",
        ),
        Paper(
            "huang2017densenet",
            "Densely Connected Convolutional Networks",
            ("Gao Huang", "Zhuang Liu", "Laurens van der Maaten", "Kilian Q. Weinberger"),
            "IEEE Conference on Computer Vision and Pattern Recognition (CVPR)",
            2017,
            "1608.06993",
        ),
        Paper(
            "simonyan2015vgg",
            "Very Deep Convolutional Networks for Large-Scale Image Recognition",
            ("Karen Simonyan", "Andrew Zisserman"),
            "International Conference on Learning Representations (ICLR)",
            2015,
            "1409.1556",
        ),
    )
}

# Family names as the zoo spells them (normalised: lower case, no '-', '_' or spaces) -> paper key.
FAMILY_PAPERS = {
    "darts": "liu2019darts",
    "pdarts": "chen2019pdarts",
    "pcdarts": "xu2020pcdarts",
    "racl": "dong2020racl",
    "robnet": "guo2020robnet",
    "advrush": "mok2021advrush",
    "arnas": "ou2024arnas",
    "ensemble": "devaguptapu2021nasrobustness",
    "randomensemble": "devaguptapu2021nasrobustness",
    "nasrobustness": "devaguptapu2021nasrobustness",
    "resnet": "he2016resnet",
    "wrn": "zagoruyko2016wrn",
    "wideresnet": "zagoruyko2016wrn",
    "densenet": "huang2017densenet",
    "vgg": "simonyan2015vgg",
}


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def paper_for(family: str | None, paper: str | None = None) -> Paper | None:
    """The paper to cite: by citation key, then by arXiv id, then by family; None when unknown."""
    for candidate in (paper, family):
        if not candidate:
            continue
        if candidate in PAPERS:
            return PAPERS[candidate]
        by_arxiv = [p for p in PAPERS.values() if candidate.removeprefix("arXiv:") == p.arxiv]
        if by_arxiv:
            return by_arxiv[0]
        key = FAMILY_PAPERS.get(_normalise(candidate))
        if key:
            return PAPERS[key]
    return None
