"""Where each dataset's files come from and their pinned SHA-256 sums.

Provenance of the hashes (never invented):

- Haxby (PyMVPA source-tree test data, ``mvpa2/data/haxby2001/sub001``) and the
  EEGLAB sample: SHA-256 of the project's reference copies (``data_cards/*.yaml``,
  ``checksums``), recorded as copied unchanged from those upstream files. For
  Haxby this was checked on ``run-01/events.tsv`` (its upstream text hashes
  to the pinned value).
- 92 objects: the RDM file is pinned to the reference copy of
  ``92_brainRDMs.mat`` (copied unchanged from rsatoolbox). The upstream image
  file ``Kriegeskorte_Neuron2008_supplementalData.mat`` has no published hash.
  The PNG conversion of the images (``imgNN.png``) and ``categories.csv`` that
  a local mirror holds are pinned to the project's reference conversion.

A mirror (``mirror=`` or ``NEUROTOOLKIT_DATA_MIRROR``) has one sub-folder per
dataset, named in :data:`MIRROR_FOLDERS`, with the files named as in the
dataset's ``data_home`` folder (``_OBJECTS92_MIRROR_NAMES`` lists the two
exceptions of the 92-object set).
"""

_HAXBY_URL = "https://raw.githubusercontent.com/PyMVPA/PyMVPA/master/mvpa2/data/haxby2001/sub001/"
_EEGLAB_URL = "https://raw.githubusercontent.com/sccn/eeglab/develop/sample_data/"
_RSA_URL = "https://raw.githubusercontent.com/rsagroup/rsatoolbox/main/demos/92imageData/"

_HAXBY_BOLD = {
    1: "fb8da73b747bd3f8f0c7cacf38c7173f3ec8ba1eb3a776003fa14880c31846e7",
    2: "c349c15e761f580d7d0de365d05c6a7c269496e75a3ad58ca05a34ed15f91d5d",
    3: "a2e72670e8380a337870ada7a8896211b849f1987107d6fd99171cc48a8bdc60",
    4: "96780e718abc001d2c1c4996a9187e85b427e9fa2500e56716ff8873fded63ca",
    5: "53eebe6b2c6edb7a82a0e84e5c72687ebe2a2d1cbd43f005ff83c88e1b06b49a",
    6: "a079fa51847925d12edb52b03b0f19cd14c5a02db156a247736f6152017780f3",
    7: "26c8fca45ee3fed85b925ea5411698fe234c9b9b0eee184a772fbf873003eb4f",
    8: "366248d75f6f15b86ee8fb0777cfd1861e4950b81fde87f92a74f0a39cd75109",
    9: "4f9a07a44fc3ca0402b0d69eb91132f1a03e32b96ed1fb744d3f558d4d774d97",
    10: "796c21c4ef9d89f723b78c3b76853cd0aca58c93d0409b0967a45841bebe5432",
    11: "d7e04d78df0aa81d7a8de8ac6c1c0044ff1a6583e92abe8ebafac8851010523b",
    12: "7bda1f0ee3483f2755e61afa0e96ce825cd2c28b0e03a91a2a96b018c10e8a40",
}
_HAXBY_EVENTS = {
    1: "f2cbdad57ece6d3f0ba9746fc03eb8f0d279be520f7ee55f17623565d138364e",
    2: "6ed581e40ba4850b4c4d9854aa0db4c979ef01794972911eb4869db6342fb3ad",
    3: "465ecdb410acc0753f733906c4d56258e0d753b73c25ca08e85a10215fcce308",
    4: "9d8eef194e0e72b1ded0caa3be16e95778fc16f218e521c10802d9a1d1bc2820",
    5: "4404718524d21cc2650a8fe9860c94b6e83592c46594ab11fb22272150e5c6fe",
    6: "0ab33f912cca0076c65b2a034973b71c3b9d00011ad6adeeef356d5f9f71c4e5",
    7: "0075f78df0b08d44c687581cbe33aa93db833ff574684d9bc24734649a3a6564",
    8: "ed40c886032a5db2b6416488b8ac36b7902242c9b5bdea23d8894eeba11aa539",
    9: "d94f85d8378c72c45f95a8db2aa85576eb4e050827ab338b075315e7bc80a013",
    10: "cb9d60adb7971d00b4f199a8729dd9de6f4f27b37f680197c7ba2d96e7be7ab2",
    11: "377788e2ef133ffcc40da369b060009397ef8ab12732c5386945e6c608293418",
    12: "50cfed990226325726f91da555f1a412fc6a932cb754825462e03b30317579bb",
}
_HAXBY_MASKS = {
    "brain": "06baff59204b30dfdae31845f2b9b3fac2bb3363d558b8955000536c4567a151",
    "gray": "84ea63ac81d75119f8d82aaf8da40cbb403b215bf872f8aaae4b060b6814ca18",
    "hoc": "9785889c78ae9cbbe9ac8fcc551afde66600187940c1106dc71bd6f85ea98f73",
    "vt": "7d018dc136203856a30445b44b00cccca9f8f4da73716e3b01b47e8da1b15dce",
}
_EEGLAB = {
    "eeglab_data.set": "27594dc378685d25d5f5f762f4f8332e7a3d988b6d5d41832bb2252d93988718",
    "eeglab_data.fdt": "3ec388b9a080c723c00cd380403d64cc754929d828375bbd53bd83b468136759",
    "eeglab_chan32.locs": "c74c38260064ae042f482c00d114cab85219bcdfe2639daf839252338417a264",
}
_RDM_SHA256 = "1743f90a15e895798a94318649e80e1123a7e5943a1703fa1dd7c31ea5780b7c"

#: Sub-folder of a local mirror that holds each dataset.
MIRROR_FOLDERS = {
    "haxby2001_sub001": "fmri_haxby2001_sub001",
    "eeglab_sample": "eeg_eeglab_sample",
    "objects92": "stimuli_92objects",
}
#: Files of the 92-object set named differently in the mirror: {data_home name: mirror name}.
_OBJECTS92_MIRROR_NAMES = {"92_brainRDMs.mat": "brain_rdms_hIT.mat"}
_OBJECTS92_CATEGORIES_SHA256 = "32da33f4baf35adbdce38a9c29f6bf31fb32aa324aa8990ee175661a274d1675"
_OBJECTS92_PNG = {
    "img00.png": "adc6a651df2c4c4d22e821d6f286273950bf160d29b380d1756204e45e62f099",
    "img01.png": "878b200c818a13ef0f540e73345919a405ae84fe24a75637b7dec0076d7fd708",
    "img02.png": "c21b3e5835277a3f68c27752b3ff41ed0670d5ab2ecf2de70603e974600ac98e",
    "img03.png": "948f26a6cc97a89616c20de984d8b45edbb7fe433992022fe2ff95265f5513e0",
    "img04.png": "81a2d4eff80143b3670ebde504b2bf60d484c36dc62190b6ff4c8313fd398642",
    "img05.png": "d6a32376a63e9838b63274a156b1b22944ae9bf5f68a1a4092185bc9948cd3c4",
    "img06.png": "b36d9ac99432b354d1619ebe6484b98950833da102f9b448cb29cec4460835d9",
    "img07.png": "4c1623cf4a54f5cca3ce4c0926b8d89c7ab4bb7d911756e366029ff974e0a5e8",
    "img08.png": "f4cc78aecb441d519189ae615afdae995014c5a8c20e1e6e1993d0efe7a5f1d4",
    "img09.png": "b2f7208d75ee65e1a5da24b312158b9521ad1dd92bc0eda98b281c4ce560a615",
    "img10.png": "9aeee3d9cf674ea1a795cbfbe63e01fe6d2a262b7c4b81b4cd2c4cfe1c44fea5",
    "img11.png": "2b7dc845cb71a575e409a6c9e4e8cd6f576af431907a355c42d5fb6b88cd3f82",
    "img12.png": "2ce307894a32d9a42bb331cc46177f51e4dbdf664ab29f3187355c865d7bf50f",
    "img13.png": "c4df48161ae412b13e853ae1ec1249eedb3824a2ce77295d30b7baf1c633fd68",
    "img14.png": "fdc12cc82ec9221c47e6c753690b1c4d40089590dd1e0016d19e21e64ca2e302",
    "img15.png": "9e134593494e9e7825629b130f2012f77293f13ab515b915c39acfe37f156153",
    "img16.png": "b04093d424033ee4501fba73ca1385a6201867cf730167fd981fd8ad2ed30f94",
    "img17.png": "535a3e711bc6961b8cb88a7071ec3a1c610934406b9acb6d99d51b5ac518840a",
    "img18.png": "1c6c0aaff2a988c14497579a967f04a9c5161a644e43fc18508737e2e52b848c",
    "img19.png": "a9a193f750fa489a020a767bc472dbec74e33c5d9a58d6581cc65f8dd5c7c33f",
    "img20.png": "a7cb2488737b4094a84438aa2b2a60c4df5c30af8c57440676825584dae00179",
    "img21.png": "49ab4d44f9bce2436c25741566f9559c17ff119b8eb82c502aadc884e6f1cdab",
    "img22.png": "a480d53e5aeedb288e0d6f72f92d029728b3b387384465a882504b445ffcb417",
    "img23.png": "fd47abd3f18591fd35bf92a83cf162f1b00d8fb18af4418a920728432854e521",
    "img24.png": "b773eddeab94feb00100643afbd74fc7c3f3e580ae635334e33498cb0c230d31",
    "img25.png": "46967bb04fe17daf0fd60a6e7f6cea298b9e6583a88a49b67ab24beea73f61a5",
    "img26.png": "481ba48be9ba08bb1fb6d4ed9373c595e22eb9b2cd9e8c10ce5c410dbe8a6d7d",
    "img27.png": "42f6a07e76750b31f43c012ae246de606385d6be458e5c7b03e80e6d76023d39",
    "img28.png": "2b7fd0b1acf6c3c993dcfe426741b89840076018fbfa377ed760b46a745fdf97",
    "img29.png": "ad8d8f0e0715778f5b61aaa67d5c905c56d6ca7e098baa8c06f8a5457891c8ec",
    "img30.png": "0f9980d1c76731252a0c77309736137880093df5a38faf670f03aef2a6bb540a",
    "img31.png": "2d5f875356f977112be4182ca6944f6af8f5d47303f98dd2501069d901f7f8e2",
    "img32.png": "2b2713c238d2c7c148093db2fd1514ffef49b5ba81411fe3589c3e9ebb1056e7",
    "img33.png": "22aedcdc4fd96a305007a4182e885e963a40d49e0f4b6b3087aa45d45cc1a5db",
    "img34.png": "621ce8584374db6b5ed1f3c6ce746d42250d6a628a4fcb2d3c09e4ad0f4d3ebd",
    "img35.png": "89d7edb34a12336f9e738cd483d01fd836ac152f1cedb4755790785fa75c86d6",
    "img36.png": "9d3b6080a036443e47b0ec85ed37f0cd6043ece9073c5c9a4d658a101d744618",
    "img37.png": "ec03e37f2803e265e88fe9ba49735e2bdeb5ff8e8e4b315b98882736c7ed8369",
    "img38.png": "3082a5a6375dcab278d77994cb450724b5586ed2da7ac542a928e5166d522994",
    "img39.png": "3c52fb35a657ec5867f958c4ec6683896756880ad04206eae0d47a04eae34c21",
    "img40.png": "e9a5dc5e946aa0ea21b9be84006c9ca38ac927a29891ead6f152aa24670bce0d",
    "img41.png": "86bfffc193c64cb85fffb612f493185467aee862cffbc1b4df5d6880a9220ed4",
    "img42.png": "0f986964137cf02c8cda560ff5bbd48177b6a5965c8b90d42de83910cd058709",
    "img43.png": "467ce3ad0e96e73f02b5013a7931a1fae63dbd9766ce679ba6b9ef7d1e909dcd",
    "img44.png": "f83e0ecf0377a4b251331692600070aee51a87ad8076373e084d0bef0fd85b0e",
    "img45.png": "95cdcbd36b1ef735a82bd6034f08e2ffa77ba37980c77972687c55a12aa2cfdf",
    "img46.png": "ab94442f911c57dadaa56f81d3f8b720ae8000ac803e222e2fa433155024e5c0",
    "img47.png": "9f75f2ab166ec5fd94c50067e47037f187a2c30174a8f832e3c91fd638bf4507",
    "img48.png": "e9a3c8a5cd7e35fb3e5eb2d20a855a76f1ca269406d7cfe01acb8ebcb3e17158",
    "img49.png": "70ea9aaf6627bda6907419d1bcb08584f735818c6a25716dcf02bc2910dd97e1",
    "img50.png": "f06acfbd0e751c1bd0927bbdd09a644b1579afcfd974ccf62552acd67499a571",
    "img51.png": "1decc182a6de7f988f008c758a50c6d50bec0a78eea85bf8e26dce663cbbf469",
    "img52.png": "4690785d0b31a69abcd3ca908e6bdcb72d1bf9612e034df9aba315d6d5c0f54d",
    "img53.png": "11a72f14d970c164c14207c4dc8dc252b7973e0a9ed9b57afbc025ac245d9a0e",
    "img54.png": "8e8ab41de838d5c907ef25e3f2d14593ee59e8b949fc562108005bd7040e4dbf",
    "img55.png": "a84bc0ff0f8e520c72b128cfe8c27b471d2ebc2ec31b56eba6c7f0a74d4fdd3b",
    "img56.png": "9b54b8e2284ac97ab728a1192bf464c623b33c032ec6b63e26e0904d65ff8823",
    "img57.png": "645480b6de0cc749a6421b4de13abda2f782416aa521c88473d055809b7c7842",
    "img58.png": "47560f1a63789098e6c0372d4de65b276e7ec6b153b47f76f8c2a14fa1b2fee5",
    "img59.png": "7ce10cd7da588f6c4c04019c0c1ed0e40afde3036ba7e01e4dbac5b1b2062dee",
    "img60.png": "fab34fdbcd672288a52f749123ee65b0860c4c6c2492b2dba67d6f064466c5de",
    "img61.png": "4a28e8fe26fda3e1eabe5f628303dbccb26f4c815df6bf27461dc765840d62ce",
    "img62.png": "fcae53715322bffefcd10d911befafa0815d6d115274dfba9f1b73eb47905040",
    "img63.png": "be4ee32ec0c7a52a53d5642c50049027d8c53f0c71098e7255a0a942f8037b61",
    "img64.png": "4d36bef386280938bc597b94b4648c164cb08534cf1118430c31baf4090563a0",
    "img65.png": "5a3259f081d5d097f121d8432c5ade09f550fed77ddb37ea4aa557f157319ec6",
    "img66.png": "bf09e1da28ff0a672c1e5b0f38028c73ffee517784ca71d5d39f80254ca679d0",
    "img67.png": "060c2a4653ba0827aff103f245699bc4b222e08da3b3059da4bff35f0d4dfa42",
    "img68.png": "7170a8c421f8f8006641e6a03bc8c8c5b55209e4f2b3399717f4cde57b1632ef",
    "img69.png": "b307892c6113d0b6fb86df802e51ec86807d2c00d0d60bff505218d058b2ca5e",
    "img70.png": "45c4f0b846b89bf0cc94e34255fe3941edb1eebff251e4000ba9c277d81522ed",
    "img71.png": "aa2e96e57a8c17dc2c5ac221ce69999458f57970e69c282d05a6c39a20dbd4ab",
    "img72.png": "0082dad26e6811ea23edc065f974d7c6ccbaaa6d16ca1b0b1d3d56fcb84f19b1",
    "img73.png": "76a07ee5f4f81e4b967963318f146ca7504de0af57b8a1b595989bd778a257de",
    "img74.png": "9e541507e746f943b1e1bf4653bcabec5bc6d23fb4ceb931dcebfdbc9d704fa8",
    "img75.png": "6bd1bc27b03280b24f751c78a98af3674cde83e8fe880565c79822bbdb53a321",
    "img76.png": "a6f4c5c688dcd80b11878b2bfa500d94b35dea53991dc9a96f285e15ff50a5f1",
    "img77.png": "912dbcf8819f7ae47686aef7b3f7fd03b74500b350e1942d14811ca986167c2c",
    "img78.png": "99a9fc7428dcdc77930d31644adbf43826ca4df631d35bee44b308ad2793603d",
    "img79.png": "afbd7eafde38352ed3c53af6068587ef7f56ac9e010acf11460547a4c546eb26",
    "img80.png": "939d1716d2141674da75112288bd1a87569a0e4bbf8f2b0f1488d720d2762e5f",
    "img81.png": "b4971b0dd7cca66e7e2d2388557ad0f928a6e1b58075eddc17b7c6a751169b56",
    "img82.png": "447f6ec7a30de8af34ecc334d6f1d5b61f7161850e5f48ca3be332961d661922",
    "img83.png": "684833cb994e54e06e2a630ee69ed57d9faea0ed497f0960984a44a4e33d69be",
    "img84.png": "076ac3f2536250a25c2b617467c4d38e21066216c595cc660bca0a268619039f",
    "img85.png": "a9e5d4ec9377a875315b3dbca97be0bb7ba0d8f9373b16a6ae924f8f01eddbd1",
    "img86.png": "d5622b2b64d66145e0ceb09eaa9c7f173b9c375f0c71893f76845807dc6a142a",
    "img87.png": "f129649d546503aedd8c0ab5fd3e39989e0558180a72e8e3b108c240639fb900",
    "img88.png": "b9388b0d315030ef3ff2bbbc6414d02eac0c84666588a6f6d6a978f3cc5dbaf8",
    "img89.png": "5706a412b5299c4ccff3ea5488e4b1dccebf058e36618ee16ef00ea4c6a9b47e",
    "img90.png": "cbad85d140077d0967089866393094b878fb4217de6c98eb7eb639943c567557",
    "img91.png": "071c38e2214a8966afe701770319a2cdd5d822938af80b169e839931c0c1726d",
}
