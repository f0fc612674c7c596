# Two clustered bar charts side by side. Each data file is tab-separated: the
# first row names the series, the first column names the groups.
#   gnuplot -e "out='x.png'; heading='...'; left='a.tsv'; leftlabel='...';
#               right='b.tsv'; rightlabel='...'" bars.gp
set terminal pngcairo size 1600,560 font "sans,10"
set output out
set datafile separator "\t"
set datafile missing "NaN"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set xtics nomirror scale 0
set key below noenhanced  # never over a bar, however tall
set xtics noenhanced
set multiplot layout 1,2 title heading font ",13" noenhanced
set ylabel leftlabel
plot for [i=2:*] left using i:xtic(1) title columnheader(i)
set ylabel rightlabel
plot for [i=2:*] right using i:xtic(1) title columnheader(i)
unset multiplot
